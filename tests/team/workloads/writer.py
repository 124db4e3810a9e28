"""A writer process for the team tests: one tracked run that saves ``N`` artifacts of its
own and one new version of the shared key ``shared/counter.txt``.

    python writer.py NAME N
"""

import sys
from pathlib import Path

import threadline as tl

name, count = sys.argv[1], int(sys.argv[2])
tl.track(key="team/writer.py", params={"writer": name})
folder = Path(name)
folder.mkdir()
for i in range(count):
    (folder / f"{i}.txt").write_text(f"{name} {i}\n")
    tl.Artifact(folder / f"{i}.txt", key=f"writers/{name}/{i}.txt").save()
(folder / "counter.txt").write_text(f"written by {name}\n")
tl.Artifact(folder / "counter.txt", key="shared/counter.txt").save()
tl.finish()
