"""Transports carry the finished ciphertext file somewhere and back, behind `transports.base.Transport`."""
