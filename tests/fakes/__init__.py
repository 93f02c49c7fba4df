"""Fake hosts speaking the providers' real HTTP protocols on 127.0.0.1 (see ``base.py``)."""
