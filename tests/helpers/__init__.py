"""Test helpers shared by the unit tests (fixture writers, fakes)."""
