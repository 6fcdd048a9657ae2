"""Abstract base classes that are also Qt classes.

A class cannot derive from both a Qt class and :class:`abc.ABC`: their
metaclasses (Shiboken's ``ObjectType`` and :class:`abc.ABCMeta`) conflict. Use
``metaclass=QABCMeta`` instead::

    class FormDialog(QDialog, metaclass=QABCMeta):
        @abstractmethod
        def operation(self) -> Coroutine[Any, Any, object]: ...

Shiboken creates instances without the check :class:`object` makes, so
:class:`QABCMeta` refuses to instantiate a class with abstract methods itself.
Type checkers see plain :class:`abc.ABCMeta` (the Qt stubs declare no metaclass).
"""

from __future__ import annotations

from abc import ABCMeta
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject

if TYPE_CHECKING:
    _QtMeta = type
else:
    _QtMeta = type(QObject)

__all__ = ["QABCMeta"]


class QABCMeta(ABCMeta, _QtMeta):
    """The metaclass of abstract Qt classes (see the module documentation)."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        abstract: frozenset[str] = getattr(cls, "__abstractmethods__", frozenset())
        if abstract:
            names = ", ".join(sorted(abstract))
            raise TypeError(
                f"Can't instantiate abstract class {cls.__name__} without an "
                f"implementation for abstract method(s) {names}"
            )
        return super().__call__(*args, **kwargs)
