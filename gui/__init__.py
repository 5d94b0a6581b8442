"""ConvScope GUI: PySide6 + pyqtgraph. Never does tensor math itself; it runs
engine jobs in worker threads and shows their events."""
