#!/usr/bin/env python3
"""Vigil's console and customer page in a real browser: headless Chromium driven by Selenium.

Run by scripts/checks/50-browser.sh against a running `vigil serve` (a new database, sandbox
providers, development mode, so unsigned webhooks are accepted) that has an operator and a viewer:

    console_test.py --base http://127.0.0.1:PORT --operator NAME:PASSWORD --viewer NAME:PASSWORD
                    --screenshots DIR [--readme-images DIR]

It creates three orders through the order webhook (one with a hostile id, email and name, which
must show as text everywhere, never as markup), then walks the pages as people would: a
signed-out visit sent to sign-in, a wrong password refused (401, message), the overview, the
session cookie's flags, the Content-Security-Policy (the header on each kind of page, and
Chromium refusing an injected inline script), a search by id with the state filter and by email,
one order approved by hand (confirm dialog accepted; its state changes and its timeline gains
session.approved), a cancel posted without its CSRF token (403, "security token", order and
timeline unchanged, audited), sign-out (the old cookie no longer works), the viewer signed in
with the keyboard (no action buttons; a forged post with a valid token refused with 403), a
customer page showing only the first name and order number, finished as the sandbox ID provider
with a date of birth ("You're verified"), another declined (cancelled and refunded), and the
outcomes and refusals as the console and its audit log show them.

Each kind of page is also audited: controls without a label, blank options, nameless buttons,
duplicate ids, personal data in the provider calls and webhooks shown, and content wider than a
phone (390x844, Chromium's device mode). Those are console bugs; they are collected and reported
together at the end (the run fails) so that one does not hide the rest of the walk.

A full-page PNG of each page (and the phone view of each kind) goes to --screenshots; with
--readme-images, two small images for the README (Pillow compresses them). Waits are explicit
(WebDriverWait); the only polling is for Vigil's background tasks, bounded. Exits non-zero with
the failed check (and the console bugs found).
"""
import argparse
import base64
import json
import os
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT = 10            # seconds for any page element to appear
TASK_WAIT = 20       # seconds for Vigil's background tasks (polled by reloading)
DESKTOP = (1200, 800)
PHONE = (390, 844)
# What a new order's timeline holds once its first background tasks have run.
INITIAL_EVENTS = {"order.received", "session.created", "order.held", "verification.session_opened", "email.sent"}

HOSTILE_ID = '<b>x"1'
HOSTILE_EMAIL = "<i>eve</i>@example.com"
HOSTILE_NAME = '<em>Eve</em> O"Hara'


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


class Run:
    def __init__(self, args):
        self.base = args.base.rstrip("/")
        self.operator = args.operator.split(":", 1)
        self.viewer = args.viewer.split(":", 1)
        self.shots = args.screenshots
        self.readme = args.readme_images
        os.makedirs(self.shots, exist_ok=True)
        self.shot_no = 0
        self.findings = []      # console bugs found by the page audits (labels, phone layout)
        self.audited = set()
        self.steps = []
        self.started = time.monotonic()
        options = Options()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
                    f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--lang=en-GB"):
            options.add_argument(arg)
        # The performance log carries each document's HTTP status (Selenium has no other way).
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
        service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(20)
        self.wait = WebDriverWait(self.driver, WAIT)

    # -- plumbing ---------------------------------------------------------------------------

    def step(self, text):
        self.steps.append(text)
        print(f"browser: [{time.monotonic() - self.started:4.1f} s] {text}", flush=True)

    def url(self, path):
        return self.base + path

    def webhook(self, order_id, email, name, total, payment):
        body = json.dumps({"event": "order.created", "orderId": order_id, "customerEmail": email,
                           "customerName": name, "orderTotal": total, "currency": "USD",
                           "paymentId": payment}).encode()
        req = urllib.request.Request(self.url("/api/v1/post-purchase/webhook"), data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            check(r.status in (200, 201, 202), f"order webhook for {order_id!r}: HTTP {r.status}")

    def order_path(self, order_id):
        return "/console/orders/" + urllib.parse.quote(order_id, safe="")

    def drain_log(self):
        self.driver.get_log("performance")

    def document_status(self):
        """The HTTP status of the last document the browser received since drain_log()."""
        status = None
        for entry in self.driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg.get("method") == "Network.responseReceived" and msg["params"].get("type") == "Document":
                status = msg["params"]["response"]["status"]
        return status

    def screenshot(self, name, full=True):
        """A PNG of the whole page (beyond the window) under --screenshots."""
        self.shot_no += 1
        path = os.path.join(self.shots, f"{self.shot_no:02d}-{name}.png")
        d = self.driver
        if full:
            metrics = d.execute_cdp_cmd("Page.getLayoutMetrics", {})
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            width = max(int(size["width"]), 1)
            height = min(max(int(size["height"]), 1), 8000)
            data = d.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})["data"]
            with open(path, "wb") as f:
                f.write(base64.b64decode(data))
        else:
            d.save_screenshot(path)
        return path

    def text(self, css="body"):
        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def h1(self):
        return self.wait.until(EC.visibility_of_element_located((By.TAG_NAME, "h1"))).text

    def open(self, path):
        self.drain_log()
        self.driver.get(self.url(path))
        self.wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def submit_and_wait(self, click, confirm=None):
        """Clicks (a submit button), answers its window.confirm if one is expected, and waits
        for the next page to load."""
        self.mark_page()
        self.drain_log()
        click()
        if confirm is not None:
            alert = self.wait.until(EC.alert_is_present())
            check(confirm in alert.text, f"confirm dialog says {alert.text!r}, expected {confirm!r}")
            alert.accept()
        self.wait_new_page()

    def mark_page(self):
        """Marks the current document, so wait_new_page() can tell when another one replaced it."""
        self.driver.execute_script("window.__vigilOld = true")

    def wait_new_page(self):
        """Waits until a new document (without the mark) has loaded. Errors while the browser is
        between documents (an element or script context gone mid-navigation) are retried."""
        WebDriverWait(self.driver, WAIT, ignored_exceptions=(WebDriverException,)).until(
            lambda d: d.execute_script("return !window.__vigilOld && document.readyState === 'complete'"))

    def poll(self, what, path, ready, timeout=TASK_WAIT):
        """Reloads `path` until ready(driver) holds: for Vigil's background tasks only."""
        started = time.monotonic()
        deadline = started + timeout
        while True:
            self.open(path)
            if ready(self.driver):
                if time.monotonic() - started > 2:
                    print(f"browser: ({what}: {time.monotonic() - started:.1f} s)", flush=True)
                return
            if time.monotonic() > deadline:
                raise Failure(f"{what}: not seen within {timeout} s at {path}")
            time.sleep(0.3)

    def timeline(self):
        return [li.find_element(By.TAG_NAME, "strong").text
                for li in self.driver.find_elements(By.CSS_SELECTOR, "ol.timeline > li")]

    def fact(self, label):
        for row in self.driver.find_elements(By.CSS_SELECTOR, "dl.facts > div"):
            if row.find_element(By.TAG_NAME, "dt").text.strip() == label:
                return row.find_element(By.TAG_NAME, "dd").text.strip()
        raise Failure(f"the order page has no {label!r} fact")

    def order_state(self):
        return self.driver.find_element(By.CSS_SELECTOR, "h1 .state").text.strip()

    def no_markup_from(self, *fragments):
        """None of the hostile values became elements: no <b>, <i> or <em> anywhere in <main>
        or <h1> (the templates use none of them), and each shows as text."""
        d = self.driver
        tags = d.execute_script(
            "return Array.from(document.querySelectorAll('main b, main i, main em, h1 b, h1 em'))"
            ".map(e => e.outerHTML)")
        check(not tags, f"hostile input rendered as markup on {d.current_url}: {tags}")
        body = d.find_element(By.TAG_NAME, "body").text
        for fragment in fragments:
            check(fragment in body, f"{fragment!r} is not shown as text on {d.current_url}")

    # -- audits (collected, reported at the end) -------------------------------------------

    AUDIT_JS = r"""
    const problems = [];
    const name = el => (el.getAttribute('aria-label') || '').trim()
        || (el.getAttribute('aria-labelledby') || '').split(/\s+/).map(id => {
               const t = id && document.getElementById(id); return t ? t.textContent.trim() : ''; }).join(' ').trim()
        || Array.from(el.labels || []).map(l => l.textContent.trim()).join(' ').trim()
        || (el.getAttribute('title') || '').trim();
    const describe = el => el.outerHTML.slice(0, 160);
    for (const el of document.querySelectorAll('input, select, textarea')) {
        if (el.type === 'hidden') continue;
        if (!name(el)) problems.push('control without a label: ' + describe(el));
    }
    for (const el of document.querySelectorAll('select option')) {
        if (!el.textContent.trim() && !(el.getAttribute('label') || '').trim())
            problems.push('option without text (read as blank): ' + describe(el) + ' in #' + el.parentElement.id);
    }
    for (const el of document.querySelectorAll('button, a[href]')) {
        const text = (el.textContent || '').trim() || name(el);
        if (!text) problems.push('button or link without text: ' + describe(el));
    }
    const ids = {};
    for (const el of document.querySelectorAll('[id]')) ids[el.id] = (ids[el.id] || 0) + 1;
    for (const [id, n] of Object.entries(ids)) if (n > 1) problems.push('id used ' + n + ' times: ' + id);
    if (!document.documentElement.lang) problems.push('no lang on <html>');
    if (document.querySelectorAll('h1').length !== 1) problems.push(document.querySelectorAll('h1').length + ' <h1> elements');
    return problems;
    """

    OVERFLOW_JS = r"""
    // The phone's width: wider content either scrolls sideways or makes Chromium zoom the page out
    // (a wider layout viewport), both unusable on a phone.
    const width = arguments[0];
    const wide = [];
    const scrollWidth = Math.max(document.documentElement.scrollWidth, window.innerWidth);
    if (scrollWidth > width + 1)
        for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            if (r.right > width + 1 && r.width > 0 && !el.closest('.scroll')) {
                // Only the outermost offender: skip elements whose parent already overflows.
                const p = el.parentElement.getBoundingClientRect();
                if (p.right <= width + 1) wide.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
                    + ' (' + Math.round(r.right) + ' px): ' + el.textContent.trim().slice(0, 60));
            }
        }
    return [scrollWidth, width, wide.slice(0, 5)];
    """

    def audit(self, page):
        """Labels and names on every control, and the layout at a phone's size, once per kind of
        page. Findings are console bugs: collected, not fatal until the end."""
        if page in self.audited:
            return
        self.audited.add(page)
        d = self.driver
        for problem in d.execute_script(self.AUDIT_JS):
            self.findings.append(f"{page}: {problem}")
        # A phone as Chromium's device mode has it: a 390x844 viewport, the page's viewport meta
        # honoured, overlay scrollbars, touch.
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": PHONE[0], "height": PHONE[1], "deviceScaleFactor": 2, "mobile": True})
        try:
            WebDriverWait(d, WAIT).until(lambda d: d.execute_script("return screen.width") == PHONE[0])
            scroll_width, width, wide = d.execute_script(self.OVERFLOW_JS, PHONE[0])
            if scroll_width > width + 1:
                self.findings.append(f"{page} at {PHONE[0]}x{PHONE[1]}: the page is {scroll_width} px wide on a "
                                     f"{width} px screen (scrolls sideways or is zoomed out); widest: {'; '.join(wide)}")
            self.screenshot(f"{page}-phone", full=False)
        finally:
            d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
            WebDriverWait(d, WAIT).until(lambda d: d.execute_script("return screen.width") != PHONE[0])

    # -- the walk ---------------------------------------------------------------------------

    def run(self):
        d = self.driver
        approve_id = HOSTILE_ID
        ada_id, grace_id = "1002", "1003"     # 50-browser.sh gives every run a new database
        ada_email, grace_email = "ada@example.com", "grace@example.com"
        self.webhook(approve_id, HOSTILE_EMAIL, HOSTILE_NAME, 59.90, "ch_hostile")
        self.webhook(ada_id, ada_email, "Ada Lovelace", 42.00, "ch_ada")
        self.webhook(grace_id, grace_email, "Grace Hopper", 120.50, "ch_grace")
        self.step(f"three orders created by webhook: {approve_id!r} (hostile id, email and name), {ada_id}, {grace_id}")

        # Not signed in: sent to the sign-in page. A wrong password is refused with a message.
        self.open("/console/orders")
        check(d.current_url.endswith("/console/sign-in"), f"signed out, /console/orders led to {d.current_url}")
        check(self.h1() == "Sign in", "the sign-in page has no 'Sign in' heading")
        self.screenshot("sign-in")
        self.audit("sign-in")
        d.find_element(By.ID, "name").send_keys(self.operator[0])
        d.find_element(By.ID, "password").send_keys("not-the-password-at-all")
        self.submit_and_wait(lambda: d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click())
        status = self.document_status()
        error = self.wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]"))).text
        check(status == 401, f"a wrong password answered HTTP {status}, expected 401")
        check("do not match" in error, f"a wrong password showed {error!r}")
        check(d.find_element(By.ID, "password").get_attribute("value") == "", "the password field kept the wrong password")
        self.screenshot("sign-in-refused")
        self.step("signed-out visit sent to sign-in; a wrong password refused (401, error shown)")

        # Sign in as the operator: the overview.
        d.find_element(By.ID, "name").clear()
        d.find_element(By.ID, "name").send_keys(self.operator[0])
        d.find_element(By.ID, "password").send_keys(self.operator[1])
        self.submit_and_wait(lambda: d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click())
        check(d.current_url.endswith("/console"), f"signing in led to {d.current_url}")
        check(self.h1() == "Overview", f"after sign-in the heading is {self.h1()!r}")
        who = self.text(".who")
        check(who == f"{self.operator[0]} (operator)", f"the header shows {who!r}")
        pending_tile = d.find_element(By.XPATH, "//ul[@class='tiles']/li[.//span[contains(@class,'state-pending')]]//span[@class='n']")
        check(int(pending_tile.text) >= 3, f"the overview counts {pending_tile.text} pending orders, expected at least 3")
        check(len(d.find_elements(By.CSS_SELECTOR, ".charts svg")) >= 2, "the overview has no SVG charts")
        cookies = {c["name"]: c for c in d.get_cookies()}
        session_cookie = next((c for c in cookies.values() if c.get("httpOnly")), None)
        check(session_cookie is not None, f"no HttpOnly session cookie: {list(cookies)}")
        check(session_cookie.get("sameSite") == "Strict", f"the session cookie is SameSite={session_cookie.get('sameSite')}")
        self.screenshot("overview")
        self.audit("overview")
        self.step(f"signed in as {self.operator[0]}: overview with counts and charts; cookie HttpOnly, SameSite=Strict")

        # The CSP: the header on every kind of page, and the browser refusing an inline script.
        self.check_csp(session_cookie)

        # Find the hostile order by its id, through the search form.
        d.find_element(By.LINK_TEXT, "Orders").click()
        self.wait.until(EC.title_contains("Orders"))
        self.screenshot("orders")
        self.audit("orders")
        search = d.find_element(By.ID, "q")
        search.send_keys(HOSTILE_ID)
        Select(d.find_element(By.ID, "state")).select_by_value("pending")
        self.submit_and_wait(lambda: search.send_keys(Keys.ENTER))
        check(d.find_element(By.ID, "q").get_attribute("value") == HOSTILE_ID,
              f"the search field shows {d.find_element(By.ID, 'q').get_attribute('value')!r} after searching")
        rows = d.find_elements(By.CSS_SELECTOR, "table.orders tbody tr")
        check(len(rows) == 1, f"searching {HOSTILE_ID!r} found {len(rows)} rows")
        link = rows[0].find_element(By.TAG_NAME, "a")
        check(link.text == HOSTILE_ID, f"the row's link reads {link.text!r}")
        self.no_markup_from(HOSTILE_ID)
        self.screenshot("orders-search")
        # Search by email too (another order's).
        self.open("/console/orders?q=" + urllib.parse.quote(grace_email))
        found = [a.text for a in d.find_elements(By.CSS_SELECTOR, "table.orders tbody a")]
        check(found == [grace_id], f"searching Grace's email found {found}")
        self.open("/console/orders?q=" + urllib.parse.quote(HOSTILE_ID))
        self.submit_and_wait(lambda: d.find_element(By.CSS_SELECTOR, "table.orders tbody a").click())
        self.step(f"found {HOSTILE_ID!r} by id (state filter pending) and Grace's order by email")

        # The order: hostile values shown as text; approve it by hand (once its first background
        # tasks have run, so the timeline compared is settled).
        self.poll("the order's first events", self.order_path(HOSTILE_ID), lambda d: INITIAL_EVENTS <= set(self.timeline()))
        check(self.h1().startswith("Order " + HOSTILE_ID), f"the order page's heading is {self.h1()!r}")
        check(self.order_state() == "pending", f"the order is {self.order_state()!r} before approval")
        check(self.fact("Customer") == HOSTILE_EMAIL, f"the Customer fact reads {self.fact('Customer')!r}")
        self.no_markup_from(HOSTILE_ID, HOSTILE_EMAIL)
        check(HOSTILE_ID in d.title, f"the title is {d.title!r}")
        hostile_page = self.fact("Customer page")
        self.check_redaction(HOSTILE_ID, [HOSTILE_EMAIL, "O\"Hara"])
        before = self.timeline()
        check("session.created" in before and "session.approved" not in before, f"timeline before approval: {before}")
        self.screenshot("order-pending")
        self.audit("order")
        approve = d.find_element(By.XPATH, "//section[@class='actions']//button[normalize-space()='Approve']")
        self.submit_and_wait(approve.click, confirm="Approve this order")
        check(self.document_status() == 200, "the page after approving did not load with 200")
        check(self.order_state() == "approved", f"after approving, the order is {self.order_state()!r}")
        flash = [e.text.strip() for e in d.find_elements(By.CSS_SELECTOR, "[role=status]")]
        check(flash and flash[0], "no confirmation message after approving")
        path = self.order_path(HOSTILE_ID)
        self.poll("session.approved on the timeline", path, lambda d: "session.approved" in self.timeline())
        after = self.timeline()
        check(len(after) > len(before), f"the timeline did not grow: {before} -> {after}")
        check(not d.find_elements(By.CSS_SELECTOR, "section.actions button[data-confirm^='Approve']"),
              "an approved order still offers Approve")
        self.screenshot("order-approved")
        self.step(f"approved {HOSTILE_ID!r} by hand: state approved, timeline gained session.approved "
                  f"({len(before)} -> {len(after)} events), message '{flash[0]}'")

        # A form without its CSRF token: 403, the message, nothing changed.
        grace_path = self.order_path(grace_id)
        self.poll(f"{grace_id}'s first events", grace_path, lambda d: INITIAL_EVENTS <= set(self.timeline()))
        grace_before = self.timeline()
        d.execute_script("document.querySelector(\"form[action$='/cancel'] input[name=csrf]\").remove()")
        cancel = d.find_element(By.CSS_SELECTOR, "form[action$='/cancel'] button")
        self.submit_and_wait(cancel.click, confirm="Cancel the verification")
        status = self.document_status()
        check(status == 403, f"a cancel without its CSRF token answered HTTP {status}, expected 403")
        check("security token" in self.text("main"), f"no security-token message: {self.text('main')!r}")
        self.screenshot("csrf-refused")
        self.audit("refusal")
        self.open(grace_path)
        check(self.order_state() == "pending", f"after the refused cancel, {grace_id} is {self.order_state()!r}")
        check(self.timeline() == grace_before, f"the refused cancel changed the timeline: {grace_before} -> {self.timeline()}")
        self.open("/console/audit")
        check("rejected:csrf" in self.text("main"), "the audit log does not show the rejected post")
        self.screenshot("audit")
        self.audit("audit")
        self.step("a cancel posted without its CSRF token: 403, 'security token' message, order unchanged, audited")

        if self.readme:
            # The README's picture of the console: an ordinary pending order, as an operator sees it.
            self.open(self.order_path(ada_id))
            self.readme_shot("console-order.png", 1200, 720)

        for path, name in (("/console/review", "review"), ("/console/tasks", "tasks")):
            self.open(path)
            check(self.document_status() == 200, f"{path} did not load with 200")
            self.screenshot(name)
            self.audit(name)

        # Sign out (the header's form): back to sign-in, and the console is closed again, also to
        # the old cookie (the session ends on the server, not only in the browser).
        self.sign_out()
        req = urllib.request.Request(self.url("/console"), headers={"Cookie": f"{session_cookie['name']}={session_cookie['value']}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            check(r.url.endswith("/console/sign-in"), f"the signed-out session's cookie still opens /console ({r.url})")
        self.step("signed out: the sign-in page; /console sends there again, also with the old cookie")

        # The viewer, signed in with the keyboard only: no actions, and a forged post refused.
        self.open("/console/sign-in")
        self.wait.until(lambda d: d.switch_to.active_element.get_attribute("id") == "name")
        d.switch_to.active_element.send_keys(self.viewer[0], Keys.TAB)
        check(d.switch_to.active_element.get_attribute("id") == "password", "Tab from the user name does not reach the password")
        self.mark_page()
        d.switch_to.active_element.send_keys(self.viewer[1], Keys.ENTER)
        self.wait_new_page()
        check(self.h1() == "Overview", f"the viewer's sign-in led to {self.h1()!r}")
        check(self.text(".who") == f"{self.viewer[0]} (viewer)", f"the header shows {self.text('.who')!r}")
        self.open(grace_path)
        check(not d.find_elements(By.CSS_SELECTOR, "section.actions, form[action*='/console/orders/'] button"),
              "the viewer sees action buttons on an order")
        grace_url = self.fact("Customer page")
        self.open(self.order_path(ada_id))
        ada_url = self.fact("Customer page")
        self.screenshot("order-viewer")
        csrf = d.find_element(By.CSS_SELECTOR, "form.sign-out input[name=csrf]").get_attribute("value")
        self.drain_log()
        d.execute_script("""
            const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];
            const i = document.createElement('input'); i.type = 'hidden'; i.name = 'csrf'; i.value = arguments[1];
            f.appendChild(i); document.body.appendChild(f); f.submit();""", grace_path + "/cancel", csrf)
        self.wait.until(EC.title_contains("Not allowed"))
        status = self.document_status()
        check(status == 403, f"the viewer's cancel answered HTTP {status}, expected 403")
        check("operator role" in self.text("main"), f"the viewer's refusal says {self.text('main')!r}")
        self.screenshot("viewer-refused")
        self.open(grace_path)
        check(self.order_state() == "pending" and self.timeline() == grace_before, "the viewer's refused cancel changed the order")
        self.step("viewer signed in by keyboard (Tab, Enter): no action buttons; a forged cancel with a valid token: 403, unchanged")
        self.sign_out()

        # The customer pages: Ada finishes a sandbox verification; Grace declines.
        check(ada_url.startswith(self.base + "/v/"), f"Ada's customer page is {ada_url!r}")
        ada_path = ada_url[len(self.base):]
        self.open(ada_path)
        check(self.h1() == "Hello Ada", f"Ada's page greets {self.h1()!r}")
        page = self.text("body")
        check(ada_id in page, "Ada's page does not show the order number")
        for private in ("Lovelace", ada_email):
            check(private not in d.page_source, f"Ada's page shows {private!r} (personal data)")
        self.wait.until(EC.visibility_of_element_located((By.LINK_TEXT, "Verify my age")))
        self.screenshot("customer-pending")
        self.audit("customer")
        if self.readme:
            self.readme_shot("customer-page.png", 600, 800)
        birth = d.find_element(By.ID, "dob")
        birth.clear()
        birth.send_keys("1990-04-12")
        self.submit_and_wait(d.find_element(By.XPATH, "//button[normalize-space()='Approve as the ID provider']").click)
        self.poll("Ada's outcome", ada_path, lambda d: "You're verified" in self.text("main"))
        check(not d.find_elements(By.ID, "dob"), "the sandbox form is still offered after the decision")
        self.screenshot("customer-verified")
        self.step("Ada's customer page: first name and order only; approved with a date of birth: \"You're verified\"")

        grace_token_path = grace_url[len(self.base):]
        self.open(grace_token_path)
        self.wait.until(EC.visibility_of_element_located((By.XPATH, "//button[normalize-space()='Decline as the ID provider']")))
        self.submit_and_wait(d.find_element(By.XPATH, "//button[normalize-space()='Decline as the ID provider']").click)
        self.poll("Grace's refund", grace_token_path,
                  lambda d: "could not confirm your age" in self.text("main") and "refunded" in self.text("main"))
        self.screenshot("customer-declined")
        self.step("Grace's customer page: declined as the ID provider: cancelled and refunded")

        # The hostile order's own customer page: its first name is text.
        self.open(hostile_page[len(self.base):])
        check(self.h1() == "Hello <em>Eve</em>", f"the hostile customer's page greets {self.h1()!r}")
        self.no_markup_from("<em>Eve</em>", HOSTILE_ID)
        check("You're verified" in self.text("main"), "the order approved by hand does not show as verified to its customer")
        self.screenshot("customer-hostile")
        self.step("the hostile order's customer page shows its id and first name as text, and the approval")

        # Both outcomes as the operator sees them; then sign out.
        self.sign_in(*self.operator)
        self.poll(f"{ada_id} approved", self.order_path(ada_id),
                  lambda d: self.order_state() == "approved" and "session.approved" in self.timeline())
        self.poll(f"{grace_id} declined", grace_path,
                  lambda d: self.order_state() == "declined" and "session.declined" in self.timeline())
        self.screenshot("order-declined")
        self.open("/console/audit")
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in d.find_elements(By.CSS_SELECTOR, "main tbody tr")]
        check(any(r[1:5] == [f"user:{self.viewer[0]}", "order.cancel", grace_id, "rejected:role"] for r in rows if len(r) >= 5),
              "the audit log does not show the viewer's refused cancel")
        check(any(r[1:5] == [f"user:{self.operator[0]}", "order.approve", HOSTILE_ID, "ok"] for r in rows if len(r) >= 5),
              "the audit log does not show the approval by hand")
        self.screenshot("audit-end")
        self.sign_out()
        self.step(f"the console shows {ada_id} approved and {grace_id} declined, the audit log the approval "
                  f"and both refusals; signed out")

    def check_redaction(self, order_id, personal):
        """The provider calls and webhooks shown on an order page carry no personal data (the
        issue: "secrets and personal data redacted"). A finding, not fatal."""
        for section in ("calls", "webhooks"):
            shown = self.driver.find_element(By.XPATH, f"//section[@aria-labelledby='{section}']").text
            for value in personal:
                if value in shown:
                    line = next(l for l in shown.splitlines() if value in l)
                    self.findings.append(f"order page ({order_id!r}): the {section} section shows the customer's "
                                         f"{value!r} unredacted: {line[:200]}")

    def sign_in(self, name, password):
        d = self.driver
        self.open("/console/sign-in")
        if not d.current_url.endswith("/console/sign-in"):
            self.sign_out()
            self.open("/console/sign-in")
        d.find_element(By.ID, "name").send_keys(name)
        d.find_element(By.ID, "password").send_keys(password)
        self.submit_and_wait(lambda: d.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click())
        check(self.h1() == "Overview", f"signing in as {name} led to {self.h1()!r}")

    def sign_out(self):
        d = self.driver
        button = d.find_elements(By.CSS_SELECTOR, "form.sign-out button")
        if not button:
            self.open("/console")
            button = d.find_elements(By.CSS_SELECTOR, "form.sign-out button")
        self.submit_and_wait(button[0].click)
        check(d.current_url.endswith("/console/sign-in") and self.h1() == "Sign in", f"signing out led to {d.current_url}")
        if "signed-out" not in self.audited:
            self.audited.add("signed-out")
            self.screenshot("signed-out")
        self.open("/console")
        check(d.current_url.endswith("/console/sign-in"), "after signing out, /console is still open")

    def check_csp(self, session_cookie):
        """Content-Security-Policy on the console (signed in), the sign-in page and a customer
        page: no inline script, no third-party origin; and Chromium enforcing it."""
        d = self.driver
        cookie = f"{session_cookie['name']}={session_cookie['value']}"
        pages = ["/console/sign-in", "/console", "/console/orders", self.order_path(HOSTILE_ID)]
        for path in pages:
            req = urllib.request.Request(self.url(path), headers={"Cookie": cookie} if path != "/console/sign-in" else {})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    status, headers = r.status, r.headers
            except urllib.error.HTTPError as e:
                status, headers = e.code, e.headers
            check(status == 200, f"GET {path} (urllib) answered {status}")
            csp = headers.get("Content-Security-Policy")
            check(csp, f"GET {path}: no Content-Security-Policy header")
            directives = {p.split()[0]: p.split()[1:] for p in (x.strip() for x in csp.split(";")) if p}
            script = directives.get("script-src", directives.get("default-src"))
            check(script is not None, f"{path}: CSP sets neither script-src nor default-src: {csp}")
            check("'unsafe-inline'" not in script and "'unsafe-eval'" not in script,
                  f"{path}: CSP allows inline script: {csp}")
            for sources in directives.values():
                for source in sources:
                    check(source.startswith("'") or source in ("data:",),
                          f"{path}: CSP names an origin ({source}): {csp}")
            check(directives.get("default-src") == ["'none'"] or directives.get("default-src") == ["'self'"],
                  f"{path}: CSP default-src is {directives.get('default-src')}")
            check(directives.get("frame-ancestors") == ["'none'"], f"{path}: CSP frame-ancestors is {directives.get('frame-ancestors')}")
        # The browser refuses an inline <script> (and an inline event handler) on a console page.
        self.open("/console")
        d.execute_script("""
            window.__vigilInline = 'blocked';
            document.addEventListener('securitypolicyviolation', e => { window.__vigilViolation = e.violatedDirective; });
            const s = document.createElement('script'); s.textContent = "window.__vigilInline = 'ran'";
            document.body.appendChild(s);
            const img = document.createElement('img'); img.setAttribute('onerror', "window.__vigilHandler = 'ran'");
            img.src = 'data:,x'; document.body.appendChild(img);""")
        WebDriverWait(d, WAIT).until(lambda d: d.execute_script("return window.__vigilViolation"))
        check(d.execute_script("return window.__vigilInline") == "blocked", "Chromium ran an inline script on /console")
        check(d.execute_script("return window.__vigilHandler") is None, "Chromium ran an inline event handler on /console")
        self.step(f"CSP on {len(pages)} pages without 'unsafe-inline' or origins; Chromium refused an inline script "
                  f"({d.execute_script('return window.__vigilViolation')})")

    def readme_shot(self, name, width, height):
        """A small image for the README: the top of the page in a width x height viewport,
        palette-compressed with Pillow."""
        d = self.driver
        os.makedirs(self.readme, exist_ok=True)
        path = os.path.join(self.readme, name)
        d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                          {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        try:
            WebDriverWait(d, WAIT).until(lambda d: d.execute_script("return window.innerWidth") == width)
            d.execute_script("window.scrollTo(0, 0)")
            d.save_screenshot(path)
        finally:
            d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        try:
            from PIL import Image
            image = Image.open(path).convert("RGB")
            image.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
        except ImportError:
            pass
        print(f"browser: README image {path} ({os.path.getsize(path) // 1024} KB)")

    def close(self):
        try:
            self.driver.quit()
        except WebDriverException:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--operator", required=True, help="NAME:PASSWORD")
    parser.add_argument("--viewer", required=True, help="NAME:PASSWORD")
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--readme-images", default=None)
    args = parser.parse_args()
    started = time.monotonic()
    run = Run(args)
    failed = None
    try:
        run.run()
    except (Failure, TimeoutException, WebDriverException, AssertionError, urllib.error.URLError) as e:
        failed = e
        where = [f"line {f.lineno} ({f.name})" for f in traceback.extract_tb(e.__traceback__) if f.filename == __file__]
        print(f"browser: failed at {', '.join(where[-2:])}", file=sys.stderr)
        try:
            run.screenshot("failure", full=False)
            print(f"browser: the failing page was {run.driver.current_url}", file=sys.stderr)
        except WebDriverException:
            pass
    finally:
        run.close()
    elapsed = time.monotonic() - started
    for finding in run.findings:
        print(f"browser: CONSOLE BUG: {finding}", file=sys.stderr)
    if failed is not None:
        kind = "" if isinstance(failed, Failure) else type(failed).__name__ + ": "
        msg = str(failed).strip().splitlines()[0] if str(failed).strip() else repr(failed)
        print(f"browser: FAILED after {len(run.steps)} steps ({elapsed:.1f} s): {kind}{msg}", file=sys.stderr)
        return 1
    if run.findings:
        print(f"browser: the walk passed ({len(run.steps)} steps, {elapsed:.1f} s) but the page audits found "
              f"{len(run.findings)} console bug(s), listed above", file=sys.stderr)
        return 1
    print(f"browser: passed, {len(run.steps)} steps in {elapsed:.1f} s; screenshots in {args.screenshots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
