"""The request protocol: named operations over an index, and the transports that carry them."""
