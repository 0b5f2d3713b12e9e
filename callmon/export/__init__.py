"""The monthly compliance report (``callmon export``): figures -> tables -> XLSX, CSV, PDF.

``figures`` reads the month and computes what ``callmon stats`` and ``callmon score`` compute;
``tables`` lays the four parts out once; ``xlsx``/``sheet_xml``, ``csv_files`` and ``pdf``/
``charts`` render them; ``run`` puts it together on two processes.
"""
