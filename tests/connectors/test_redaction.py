import logging

from connectors.redaction import RedactingFilter, redact


def test_nested_secret_keys_are_masked_and_other_fields_kept():
    value = {
        "appid": "demo-app",
        "Password": "hunter2",
        "nested": [{"access_token": "abc", "code": "SALE10"}],
        "headers": {"Authorization": "Bearer xyz"},
        "note": "paid with Bearer eyJhbGciOi.secret.part",
    }
    out = redact(value)
    assert out["appid"] == "***" and out["Password"] == "***"
    assert out["nested"][0] == {"access_token": "***", "code": "SALE10"}  # discount codes stay readable
    assert out["headers"]["Authorization"] == "***"
    assert "eyJ" not in out["note"]
    assert value["Password"] == "hunter2"  # the original is untouched


def test_log_records_lose_tokens(caplog):
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="test.redaction"):
        logger.info("calling with %s", 'password="hunter2" Authorization: Bearer abc.def')
    assert "hunter2" not in caplog.text and "abc.def" not in caplog.text
