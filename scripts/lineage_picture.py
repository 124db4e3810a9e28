"""Make docs/lineage.png: the HTML lineage view of the test sample (tests/core/
lineage_sample.py: a Snakemake workflow of five rules, one errored), both directions from
counts/S1.csv, in headless Chromium, a run clicked.

    python scripts/lineage_picture.py [OUT.png]

Needs Chromium, chromedriver and selenium (the dev extra).
"""

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import threadline as tl
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.core.lineage_sample import build

    out = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "lineage.png").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tl.connect(db=f"sqlite:///{folder}/db/threadline.db", storage=str(folder / "store"))
        made = build(folder)
        page = tl.lineage.html(made["counts"], folder / "lineage.html", "both")
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "chromium"
        for flag in ("--headless=new", "--no-sandbox", "--window-size=1280,560"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            driver.get(page.as_uri())
            WebDriverWait(driver, 60).until(
                lambda d: d.execute_script("return document.body.dataset.rendered === '1'")
            )
            driver.find_element("id", "tl-fit").click()  # the whole sample, however small
            node = f'g.node[data-id="r{made["align"].id}"]'
            driver.find_element("css selector", node).click()
            driver.save_screenshot(str(out))
        finally:
            driver.quit()
            tl.disconnect()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
