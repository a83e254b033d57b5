"""Assertions shared by the tests."""

from __future__ import annotations


def assert_problem(response, status: int) -> dict:
    """Assert an RFC 9457 problem response with `status`; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body
