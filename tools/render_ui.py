"""Render the module panel (.ui) offscreen to a PNG, so the README can show what users see.

Qt Designer's own loader (PySide6 QUiLoader) builds the standard Qt widgets; Slicer/CTK custom
widgets (node selectors, markups widgets, Segment Editor, collapsible buttons) do not exist outside
Slicer, so they are drawn as labelled placeholders with their real names. Needs PySide6:

    python -m venv /tmp/qtenv && /tmp/qtenv/bin/pip install PySide6-Essentials
    QT_QPA_PLATFORM=offscreen /tmp/qtenv/bin/python tools/render_ui.py docs/panel.png
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QFile  # noqa: E402
from PySide6.QtUiTools import QUiLoader  # noqa: E402
from PySide6.QtWidgets import QApplication, QFrame, QGroupBox, QLabel, QVBoxLayout, QWidget  # noqa: E402

UI = Path(__file__).resolve().parents[1] / "ALNPredictor" / "Resources" / "UI" / "ALNPredictor.ui"
HEIGHTS = {"qMRMLSegmentEditorWidget": 150, "qSlicerSimpleMarkupsWidget": 44}


def _placeholder(class_name: str):
    class Placeholder(QFrame):
        def __init__(self, parent=None):
            super().__init__(parent)
            self.setFrameShape(QFrame.StyledPanel)
            self.setStyleSheet("QFrame { background: #eef2f7; border: 1px dashed #8a9bb0; }")
            lay = QVBoxLayout(self)
            lay.setContentsMargins(4, 2, 4, 2)
            lab = QLabel(f"[{class_name}: {self.objectName() or 'Slicer widget'}]")
            lab.setStyleSheet("border: none; color: #4a5a70;")
            lay.addWidget(lab)
            self.setMinimumHeight(HEIGHTS.get(class_name, 26))
            self._label = lab

        def setObjectName(self, name):  # noqa: N802 (Qt API)
            super().setObjectName(name)
            if hasattr(self, "_label"):
                self._label.setText(f"[{class_name}] {name}")

    Placeholder.__name__ = class_name
    return Placeholder


def main(out: str) -> None:
    app = QApplication.instance() or QApplication(sys.argv)
    text = UI.read_text()
    # Collapsible sections → group boxes with their title; the Slicer root widget → a plain QWidget.
    text = text.replace('class="ctkCollapsibleButton"', 'class="QGroupBox"').replace('class="qMRMLWidget"', 'class="QWidget"')
    text = re.sub(r'<property name="title">', '<property name="title">', text)
    text = text.replace('<property name="text"><string>1.', '<property name="title"><string>1.')
    for n in "2345":
        text = text.replace(f'<property name="text"><string>{n}.', f'<property name="title"><string>{n}.')
    loader = QUiLoader()
    for cls in ("qMRMLNodeComboBox", "qSlicerSimpleMarkupsWidget", "qMRMLSegmentEditorWidget", "ctkPathLineEdit",
                "ctkSliderWidget", "qSlicerWidget"):
        loader.registerCustomWidget(_placeholder(cls))
    with tempfile.NamedTemporaryFile("w", suffix=".ui", delete=False) as fh:
        fh.write(text)
    f = QFile(fh.name)
    f.open(QFile.ReadOnly)
    widget: QWidget = loader.load(f)
    f.close()
    widget.setWindowTitle("ALNPredictor")
    widget.resize(440, 1180)
    for box in widget.findChildren(QGroupBox):
        box.setStyleSheet("QGroupBox { font-weight: bold; }")
    widget.show()
    app.processEvents()
    pix = widget.grab()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    pix.save(out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/panel.png")
