"""Starting the engine up to sign-in: the dialog's wait ends once accounts are ready."""

from __future__ import annotations

import asyncio

import pytest

from app.engine_start import start_until_sign_in
from app.widgets.plural import count


class SlowNode:
    """Sets :attr:`sign_in_ready` part-way through a start that goes on afterwards."""

    def __init__(self, fail_before: bool = False, fail_after: bool = False) -> None:
        self.sign_in_ready = asyncio.Event()
        self.rest = asyncio.get_running_loop().create_future()
        self.fail_before = fail_before
        self.fail_after = fail_after
        self.finished = False

    async def start(self) -> None:
        await asyncio.sleep(0.01)
        if self.fail_before:
            raise OSError("the data directory is not writable")
        self.sign_in_ready.set()
        await self.rest
        if self.fail_after:
            raise RuntimeError("the workspace did not load")
        self.finished = True


@pytest.mark.asyncio
async def test_returns_when_sign_in_is_ready_and_the_rest_goes_on() -> None:
    node = SlowNode()
    rest = await asyncio.wait_for(start_until_sign_in(node), 5)
    assert node.sign_in_ready.is_set() and not rest.done()
    node.rest.set_result(None)
    await asyncio.wait_for(rest, 5)
    assert node.finished


@pytest.mark.asyncio
async def test_a_start_that_fails_before_sign_in_raises() -> None:
    node = SlowNode(fail_before=True)
    with pytest.raises(OSError, match="not writable"):
        await asyncio.wait_for(start_until_sign_in(node), 5)


@pytest.mark.asyncio
async def test_a_failure_after_sign_in_is_left_to_the_task() -> None:
    node = SlowNode(fail_after=True)
    rest = await asyncio.wait_for(start_until_sign_in(node), 5)
    node.rest.set_result(None)
    with pytest.raises(RuntimeError, match="did not load"):
        await asyncio.wait_for(rest, 5)


def test_counts_in_words() -> None:
    assert [count(n, "patch", "patches") for n in (0, 1, 2)] == [
        "0 patches",
        "1 patch",
        "2 patches",
    ]
    assert count(1, "task") == "1 task" and count(5, "version") == "5 versions"
