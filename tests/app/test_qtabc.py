"""Abstract Qt classes: the declared contracts hold at runtime too."""

from __future__ import annotations

from abc import abstractmethod

import pytest
from PySide6.QtCore import QObject, Signal
from pytestqt.qtbot import QtBot

from app.panels.admin.common import AdminTab
from app.qtabc import QABCMeta
from app.shared.form import FormDialog


class Base(QObject, metaclass=QABCMeta):
    pinged = Signal(int)

    @abstractmethod
    def value(self) -> int: ...


class Concrete(Base):
    def value(self) -> int:
        return 7


def test_abstract_qt_class_is_refused_and_concrete_works(qtbot: QtBot) -> None:
    with pytest.raises(TypeError, match=r"abstract method.*value"):
        Base()  # type: ignore[abstract]
    obj = Concrete()
    got: list[int] = []
    obj.pinged.connect(got.append)
    obj.pinged.emit(obj.value())
    assert got == [7] and isinstance(obj, Base)


def test_the_console_base_classes_are_abstract() -> None:
    assert FormDialog.__abstractmethods__ == frozenset({"operation"})
    assert AdminTab.__abstractmethods__ == frozenset({"fetch"})
    with pytest.raises(TypeError, match="operation"):
        FormDialog(None, name="x", title="", heading="", text="", submit="", busy="")  # type: ignore[abstract, arg-type]
