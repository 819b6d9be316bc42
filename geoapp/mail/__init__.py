"""Outgoing e-mail: an outbox table written in the same transaction, and a sender."""
