def test_sub(name, pkg_name, request):
    assert name == "root/sub"
    assert pkg_name == request.config.rootpath.name  # the root is no package
