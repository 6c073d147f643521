// The API's description at /docs: Swagger UI, from the copy installed with the server
// (served under /docs/assets), drawing this server's /openapi.json. Nothing comes from
// another origin, so the page works without a network and under the page's strict policy.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
