import pytest


def pytest_collect_file(parent, file_path):
    if file_path.suffix == ".spec" and file_path.name.startswith("test"):
        return SpecFile.from_parent(parent, path=file_path)


class SpecFile(pytest.File):
    def collect(self):
        for line in self.path.read_text().splitlines():
            name, expr = line.split(":", 1)
            yield SpecItem.from_parent(self, name=name.strip(), expr=expr.strip())


class SpecItem(pytest.Item):
    def __init__(self, *, expr, **kwargs):
        super().__init__(**kwargs)
        self.expr = expr

    def runtest(self):
        left, right = self.expr.split("=")
        a, b = left.split("+")
        if int(a) + int(b) != int(right):
            raise AssertionError(f"{self.expr} is wrong")

    def repr_failure(self, excinfo):
        return f"spec failed: {excinfo.value}"

    def reportinfo(self):
        return self.path, 0, f"spec: {self.name}"
