def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def test_fib_10(benchmark):
    assert benchmark(fib, 10) == 55


def test_fib_15(benchmark):
    assert benchmark(fib, 15) == 610


def test_pedantic(benchmark):
    assert benchmark.pedantic(sum, args=([1, 2, 3],), rounds=2, iterations=1) == 6


def test_plain():
    assert fib(5) == 5
