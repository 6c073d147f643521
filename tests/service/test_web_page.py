"""The web page in a real browser (Debian's Chromium driven by Playwright): type, click, check what is shown.

Skips when Chromium or Playwright is missing; install them with
``apt-get install -y chromium`` and ``pip install playwright`` (no ``playwright install``).
"""

from __future__ import annotations

import shutil
import urllib.parse

import pytest
from service_fixtures import SCRIPT_DOCUMENT, golden_index, indexes, running_server, server, settings_for  # noqa: F401 (fixtures)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not shutil.which("chromium"):
    pytest.skip("Chromium is not installed: apt-get update && apt-get install -y chromium", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: pip install playwright")

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 20_000


def wait_for_text(page, selector: str, text: str, prefix: bool = False) -> None:
    """Wait (bounded) until the first element of ``selector`` shows ``text`` (the page's CSP forbids
    the string evaluation that wait_for_function uses)."""
    for _ in range(TIMEOUT_MS // 50):
        element = page.query_selector(selector)
        shown = element.inner_text() if element is not None else None
        if shown is not None and (shown.startswith(text) if prefix else shown == text):
            return
        page.wait_for_timeout(50)
    raise AssertionError(f"{selector} never showed {text!r}")


@pytest.fixture(scope="module")
def site(indexes):
    with running_server(settings_for(indexes, "html", "golden", threads=2)) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    page.goto(site + "/")
    page.wait_for_selector("#index option", state="attached")
    yield page
    context.close()


def test_corpus_html_is_shown_as_text_and_never_run(page):
    page.click("button[data-tab=documents]")
    page.fill("#documents-text", "script")
    page.click("#documents-run")
    card = page.wait_for_selector("#documents-result .document")
    text = card.inner_text()
    assert '<script>window.pwned = 1; alert("pwned")</script> and <img src=x' in text
    assert '{"title":"<b>bold</b>"}' in text
    assert page.query_selector("#documents-result script") is None and page.query_selector("#documents-result img") is None
    assert page.query_selector("#documents-result mark").inner_text() == "script"
    assert page.evaluate("window.pwned") is None and page.dialogs == []
    # the attribution view too
    page.click("button[data-tab=attribute]")
    page.fill("#attribute-text", SCRIPT_DOCUMENT)
    page.fill("#attribute-min-length", "8")
    page.click("#attribute-run")
    page.wait_for_selector("#attributed .span").click()
    page.wait_for_selector("#attribute-sources .document")
    assert page.query_selector("#attribute-sources script") is None
    assert page.evaluate("window.pwned") is None and page.dialogs == []


def test_malformed_search_is_underlined_where_it_fails(page):
    page.click("button[data-tab=search]")
    page.fill("#search-text", '"cat" AND dog dog')
    page.click("#search-run")
    fault = page.wait_for_selector("#search-query .fault")
    assert fault.inner_text() == "d"
    assert page.inner_text("#search-query") == '"cat" AND dog dog'
    before = page.evaluate("document.querySelector('#search-query').firstChild.textContent")
    assert before == '"cat" AND dog '  # the fault is at character 14
    assert "QueryError" in page.inner_text("#search-result .error") and "at character 14" in page.inner_text("#search-result")


def test_search_results_paging_and_shareable_url(page, site):
    page.select_option("#index", "golden")
    page.click("button[data-tab=search]")
    page.fill("#search-text", "the OR a")
    page.click("#search-run")
    page.wait_for_selector("#search-result .document")
    summary = page.inner_text("#search-result .summary")
    assert summary.startswith("1–10 of ")
    page.click("#search-result .next")
    wait_for_text(page, "#search-result .summary", "11–", prefix=True)
    fragment = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).fragment)
    assert fragment["tab"] == ["search"] and fragment["q"] == ["the OR a"] and fragment["offset"] == ["10"]
    assert fragment["index"] == ["golden"]
    shared = page.context.new_page()
    shared.goto(page.url)
    shared.wait_for_selector("#search-result .document")
    assert shared.input_value("#search-text") == "the OR a"
    assert shared.inner_text("#search-result .summary").startswith("11–")


def test_count_with_probabilities_and_next_token_bars(page):
    page.select_option("#index", "golden")
    page.click("button[data-tab=count]")
    page.fill("#count-text", "sat on the m")
    page.click("#count-run")
    wait_for_text(page, "#count-table td", "1")  # "sat on the mat", once
    names = [cell.inner_text() for cell in page.query_selector_all("#count-table th")]
    values = [cell.inner_text() for cell in page.query_selector_all("#count-table td")]
    assert names[1].startswith("n-gram probability") and values[1] == "0.5000"
    assert names[2].startswith("∞-gram probability") and values[2] == "0.5000"
    page.click("button[data-tab=next]")
    page.fill("#next-text", "The ")
    page.click("#next-run")
    page.wait_for_selector("#next-result .bars .row")
    labels = [label.inner_text() for label in page.query_selector_all("#next-result .label")]
    assert labels[:3] == ['"c"', '"d"', '"r"']
    assert "3 · 50.0%" in page.inner_text("#next-result .bars")


def test_contamination_of_pasted_entries(page):
    page.select_option("#index", "golden")
    page.click("button[data-tab=contamination]")
    page.fill("#contamination-text", "Le café coûte\nsomething that is nowhere in the corpus at all, not even close")
    page.click("#contamination-run")
    page.wait_for_selector("#contamination-result table tr:nth-child(3)")
    labels = [cell.inner_text() for cell in page.query_selector_all("#contamination-result td[class^=label-]")]
    assert labels == ["dirty", "clean"]


def test_the_api_description_renders_with_no_network(browser, site):
    """/docs draws every operation with every request to another host refused (as on a machine
    with no network): its assets come from the server, and the page's policy holds."""
    from infgram.service.protocol import OPERATIONS

    context = browser.new_context()
    refused: list[str] = []

    def loopback_only(route):
        if urllib.parse.urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        page.goto(site + "/docs")
        page.wait_for_selector(".opblock-summary-path")
        shown = {element.get_attribute("data-path") for element in page.query_selector_all(".opblock-summary-path")}
        assert {f"/v1/{op}" for op in OPERATIONS} | {"/v1/batch", "/v1/health", "/metrics"} <= shown
        page.click(".opblock-summary-path[data-path='/v1/count']")  # an operation opens, with its body's fields
        page.wait_for_selector(".opblock.is-open .opblock-section-request-body")
        assert refused == [] and problems == []
    finally:
        context.close()


def test_trace_highlights_spans_and_ranks_their_documents(page):
    """The OLMoTrace view: traced spans highlighted by relevance; a click on one lists its
    documents, most relevant first, the matching text marked; the prompt is kept in the URL."""
    page.select_option("#index", "golden")
    page.click("button[data-tab=trace]")
    page.fill("#trace-prompt", "where did the dog sleep?")
    page.fill("#trace-text", "Yesterday the dog sat on the log. The dog was sleepy, said nobody.")
    page.click("#trace-run")
    span = page.wait_for_selector("#traced .span")
    assert "spans kept" in page.inner_text("#trace-summary")
    assert "relevance-" in span.get_attribute("class")
    page.wait_for_selector("#trace-documents .document")
    # A locator, not the handle from before: the view may draw its spans again meanwhile.
    span = page.locator("#traced .span").first
    span.click()
    assert "chosen" in span.get_attribute("class")
    wait_for_text(page, "#trace-documents h3", "", prefix=True)
    heading = page.inner_text("#trace-documents h3")
    assert span.inner_text() in heading
    cards = page.query_selector_all("#trace-documents .document")
    assert cards and "BM25" in cards[0].inner_text()
    scores = [float(card.query_selector(".muted").inner_text().split("BM25 ")[1].split(" ")[0]) for card in cards]
    assert scores == sorted(scores, reverse=True)
    marks = [mark.inner_text() for mark in page.query_selector_all("#trace-documents mark")]
    assert marks and all(mark in span.inner_text() or span.inner_text() in mark for mark in marks)
    fragment = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).fragment)
    assert fragment["tab"] == ["trace"] and fragment["prompt"] == ["where did the dog sleep?"]
