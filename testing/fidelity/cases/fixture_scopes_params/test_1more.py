def test_session(sess, record):
    record(sess)


def test_plain(record):
    record("plain")
