"""Loopback stand-ins and real servers the tests run against."""
