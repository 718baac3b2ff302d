"""One module per inbound message kind: decode -> domain -> store -> reply."""
