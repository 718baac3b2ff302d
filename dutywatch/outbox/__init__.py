"""Transactional outbox: messages written with the state change, published after commit."""
