def test_deeper(name, pkg_name, request):
    assert name == "deeper"
    assert pkg_name == request.config.rootpath.name
