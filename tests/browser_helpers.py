"""Checks that an admin page fits a 1366 px wide window (Playwright pages)."""


def page_scrolls_sideways(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )


def box_right_edge(page, selector) -> float:
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"]


def assert_list_fits(page, columns, where=""):
    """The changelist shows every column without its scrolling box scrolling, no cell
    spills out of its box, and the page itself does not scroll sideways."""
    widths = page.evaluate(
        """() => { const r = document.querySelector('.results');
                   return [r.scrollWidth, r.clientWidth]; }"""
    )
    assert widths[0] <= widths[1], f"{where}: the list scrolls sideways at 1366 px: {widths}"
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('#result_list th, #result_list td')]
                 .filter(c => c.scrollWidth > c.clientWidth + 1)
                 .map(c => c.className + ': ' + c.innerText)"""
    )
    assert overflowing == [], where
    assert not page_scrolls_sideways(page), where
    headers = " ".join(page.locator("#result_list thead th").all_inner_texts()).upper()
    for name in columns:
        assert name.upper() in headers, (where, headers)
