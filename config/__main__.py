"""Print the settings table (``python -m config``) or refresh it in the README (``--readme``)."""

import re
import sys
from pathlib import Path

from config.settings import settings_table

README = Path(__file__).resolve().parent.parent / "README.md"

if "--readme" in sys.argv:
    text = README.read_text(encoding="utf-8")
    block = f"<!-- settings-table -->\n{settings_table()}\n<!-- /settings-table -->"
    text = re.sub(r"<!-- settings-table -->.*?<!-- /settings-table -->", block, text, flags=re.S)
    README.write_text(text, encoding="utf-8")
else:
    print(settings_table())
