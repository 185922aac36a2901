def classify(n):
    if n < 0:
        return "negative"
    if n == 0:
        return "zero"
    return "positive"


def unused(x):
    return x * 2


def loop(n):
    total = 0
    for i in range(n):
        total += i
    return total
