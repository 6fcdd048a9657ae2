"""TaskGraphView: a decomposed job's task graph, nodes coloured by their live state.

Tasks sit in columns by dependency depth (see :mod:`app.panels.swarm.graph`);
an arrow runs from each dependency to its dependant and turns green once the
dependency succeeded. :meth:`TaskGraphView.show_graph` draws a graph;
:meth:`TaskGraphView.set_states` recolours nodes in place as tasks change, with
no new layout. The view zooms to fit, but never below a legible scale: larger
graphs scroll. Clicking a node emits :attr:`TaskGraphView.taskClicked`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPen,
    QPolygonF,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QStyleOptionGraphicsItem,
    QWidget,
)

from app.panels.swarm.graph import NODE_H, NODE_W, layout
from app.panels.swarm.rows import task_colours, task_label, task_short
from app.theme import themed
from chimera_engine.swarm.models import TaskInfo

MIN_SCALE = 0.6
MARGIN = 16.0
EDGE = "#9aa5b1"
EDGE_DONE = "#3f9c6d"
SELECTED = "#2f6fed"
BACKGROUND = "#fbfcfd"
NOTE = "#7b8794"


class TaskNode(QGraphicsItem):
    """One task: a rounded box in its state's colours, its tool and its state."""

    def __init__(self, task: TaskInfo, view: TaskGraphView) -> None:
        super().__init__()
        self.task_id = task.id
        self.title = task_label(task)
        self.state = task.state.value
        self.selected = False
        self._view = view
        self.setToolTip(f"{task.id}\n{self.title}\n{task.role} · {task.agent or 'no agent yet'}")
        self.setCursor(Qt.CursorShape.PointingHandCursor)

    def boundingRect(self) -> QRectF:
        return QRectF(-2, -2, NODE_W + 4, NODE_H + 4)

    def set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.update()

    def set_selected(self, selected: bool) -> None:
        if selected != self.selected:
            self.selected = selected
            self.update()

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionGraphicsItem,
        widget: QWidget | None = None,
    ) -> None:
        fg, bg = task_colours(self.state)
        rect = QRectF(0, 0, NODE_W, NODE_H)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen = QPen(themed(SELECTED if self.selected else fg), 2.5 if self.selected else 1.2)
        painter.setPen(pen)
        painter.setBrush(QBrush(themed(bg)))
        painter.drawRoundedRect(rect.adjusted(0.5, 0.5, -0.5, -0.5), 7, 7)
        title_font = QFont(self._view.font())
        title_font.setWeight(QFont.Weight.DemiBold)
        painter.setFont(title_font)
        painter.setPen(themed("#1f2933"))
        text = rect.adjusted(10, 6, -10, -NODE_H / 2)
        elided = QFontMetrics(title_font).elidedText(
            self.title, Qt.TextElideMode.ElideRight, int(text.width())
        )
        painter.drawText(
            text, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), elided
        )
        small = QFont(self._view.font())
        small.setPointSizeF(max(7.0, small.pointSizeF() - 1))
        painter.setFont(small)
        painter.setPen(themed(fg))
        lower = rect.adjusted(10, NODE_H / 2, -10, -6)
        painter.drawText(
            lower,
            int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
            f"{self.state.replace('_', ' ')} · {task_short(self.task_id)}",
        )

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        self._view.taskClicked.emit(self.task_id)
        event.accept()


class TaskGraphView(QGraphicsView):
    taskClicked = Signal(str)  # task id

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("taskGraphView")
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setBackgroundBrush(themed(BACKGROUND))
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.nodes: dict[str, TaskNode] = {}
        self._edges: list[tuple[str, QGraphicsPathItem, QGraphicsPathItem]] = []
        self.graph_id = ""
        self._note: QGraphicsSimpleTextItem | None = None
        self.show_message("Select a task of a decomposed job to see its graph")

    def changeEvent(self, event: QEvent) -> None:
        """A live theme switch: background, note and edges in the new theme's colours
        (the nodes pick theirs up when they repaint)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self.setBackgroundBrush(themed(BACKGROUND))
            if self._note is not None:
                self._note.setBrush(themed(NOTE))
            self._colour_edges()
            self._scene.update()

    # -- content ---------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self._clear()
        self.graph_id = ""
        note = self._scene.addSimpleText(text)
        note.setBrush(themed(NOTE))
        self._note = note
        self._scene.setSceneRect(note.boundingRect().adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN))
        self.resetTransform()

    def show_graph(self, graph_id: str, tasks: Sequence[TaskInfo], selected: str = "") -> None:
        """Draw the graph ``graph_id`` made of ``tasks`` (replacing what is shown)."""
        self._clear()
        self.graph_id = graph_id
        placed = layout(tasks)
        for task in tasks:
            spot = placed.nodes[task.id]
            node = TaskNode(task, self)
            node.setPos(spot.x, spot.y)
            node.setZValue(1)
            self._scene.addItem(node)
            self.nodes[task.id] = node
        for dep, child in placed.edges:
            line, head = self._edge(self.nodes[dep], self.nodes[child])
            self._edges.append((dep, line, head))
        self._colour_edges()
        self._scene.setSceneRect(
            QRectF(-MARGIN, -MARGIN, placed.width + 2 * MARGIN, placed.height + 2 * MARGIN)
        )
        self.select(selected)
        self._fit()

    def _edge(self, src: TaskNode, dst: TaskNode) -> tuple[QGraphicsPathItem, QGraphicsPathItem]:
        start = src.pos() + QPointF(NODE_W, NODE_H / 2)
        end = dst.pos() + QPointF(-6, NODE_H / 2)
        bend = (end.x() - start.x()) / 2
        path = QPainterPath(start)
        path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
        line = self._scene.addPath(path)
        arrow = QPainterPath()
        arrow.addPolygon(
            QPolygonF([end + QPointF(6, 0), end + QPointF(-2, -4.5), end + QPointF(-2, 4.5)])
        )
        arrow.closeSubpath()
        head = self._scene.addPath(arrow)
        return line, head

    def _colour_edges(self) -> None:
        for dep, line, head in self._edges:
            node = self.nodes.get(dep)
            colour = themed(EDGE_DONE if node is not None and node.state == "succeeded" else EDGE)
            line.setPen(QPen(colour, 1.4))
            head.setPen(QPen(colour, 1.0))
            head.setBrush(QBrush(colour))

    def set_states(self, states: Mapping[str, str]) -> int:
        """Recolour the nodes of tasks in ``states`` (task id -> state); returns how many
        of them are in this graph."""
        changed = 0
        for tid, state in states.items():
            node = self.nodes.get(tid)
            if node is not None:
                node.set_state(state)
                changed += 1
        if changed:
            self._colour_edges()
        return changed

    def select(self, task_id: str) -> None:
        for tid, node in self.nodes.items():
            node.set_selected(tid == task_id)
        chosen = self.nodes.get(task_id)
        if chosen is not None:
            self.ensureVisible(chosen, 24, 24)

    def states(self) -> dict[str, str]:
        """Each node's state as drawn (for tests)."""
        return {tid: node.state for tid, node in self.nodes.items()}

    def _clear(self) -> None:
        self._scene.clear()
        self.nodes = {}
        self._edges = []
        self._note = None

    # -- zoom ------------------------------------------------------------------------------
    def _fit(self) -> None:
        rect = self._scene.sceneRect()
        if rect.isEmpty() or not self.nodes:
            return
        view = self.viewport().rect()
        scale = min(1.0, view.width() / rect.width(), view.height() / rect.height())
        scale = max(MIN_SCALE, scale)
        self.resetTransform()
        self.scale(scale, scale)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()
