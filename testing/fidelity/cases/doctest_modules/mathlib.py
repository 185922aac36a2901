def add(a, b):
    """
    >>> add(1, 2)
    3
    """
    return a + b


def sub(a, b):
    """
    >>> sub(3, 1)
    3
    """
    return a - b


class Box:
    """
    >>> Box(2).value
    2
    """

    def __init__(self, value):
        self.value = value
