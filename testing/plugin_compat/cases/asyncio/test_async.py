import asyncio

import pytest
import pytest_asyncio


@pytest_asyncio.fixture
async def value():
    await asyncio.sleep(0)
    yield 42


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def shared_loop():
    return asyncio.get_running_loop()


@pytest.mark.asyncio
async def test_fixture(value):
    assert value == 42


@pytest.mark.asyncio
async def test_gather():
    results = await asyncio.gather(*(asyncio.sleep(0, result=i) for i in range(5)))
    assert results == list(range(5))


@pytest.mark.asyncio
async def test_fails():
    await asyncio.sleep(0)
    assert False, "async failure"


@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_a(shared_loop):
    assert asyncio.get_running_loop() is shared_loop


@pytest.mark.asyncio(loop_scope="module")
async def test_module_loop_b(shared_loop):
    assert asyncio.get_running_loop() is shared_loop


async def test_unmarked_in_strict_mode():
    pass


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.asyncio
async def test_param(n):
    assert await asyncio.sleep(0, result=n) == n
