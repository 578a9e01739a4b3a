"""A browser tab in Streamlit's websocket protocol, for tests through the balancer (deploy/hall.py).

Not a test module (the leading underscore). The minimum of benchmarks/bench_lecture_hall.py's
Student and upload_photo (tests do not import benchmarks), plus what the hall's tests look at:
which replica answered (HAProxy's X-Replica header), the cookies a browser keeps, the alerts and
pictures a run drew.
"""
from __future__ import annotations

import asyncio
import io
import time
import urllib.error
import urllib.request
from email.message import Message
from http.cookies import SimpleCookie

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileUploaderState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

PAGE = "kernel_playground"
QUERY = "preset=Gaussian+blur"
SLIDERS = ("kp_gaussian_blur_size", "kp_gaussian_blur_sigma")
RUN_S = 60.0  # one run's limit: generous on 2 busy cores


def get(url: str, cookies: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes, Message]:
    """A plain GET with a browser's cookies: (status, cookies set, body, headers)."""
    request = urllib.request.Request(url, headers=cookie_header(cookies))
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, set_cookies(response.headers), response.read(), response.headers
    except urllib.error.HTTPError as err:
        return err.code, set_cookies(err.headers), err.read(), err.headers


def cookie_header(cookies: dict[str, str] | None) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}


def set_cookies(headers) -> dict[str, str]:
    """The cookies a response sets (name -> value)."""
    jar = SimpleCookie()
    for header in headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


class Student:
    """One browser tab on the balancer: its cookies, its websocket, the replica that holds it."""

    def __init__(self, base: str, cookies: dict[str, str] | None = None, page: str = PAGE,
                 query: str = QUERY) -> None:
        self.base, self.cookies = base, dict(cookies or {})
        self.ws = None
        self.replica = ""
        self.page, self.page_hash, self.query, self.session_id = page, "", query, ""
        self.widget_ids: dict[str, str] = {}  # user key -> "$$ID-<hash>-<key>"
        self.errors, self.alerts, self.images, self.seen = 0, [], [], set()
        self.texts: list[str] = []  # this run's markdown and captions
        self.file_urls = None
        self.uploads = 0

    async def connect(self) -> None:
        """Open the websocket as the browser does, with its cookies; keep the replica's answer
        (X-Replica) and the cookie HAProxy sets (SRV, when it chose or changed the replica)."""
        url = self.base.replace("http://", "ws://") + "/_stcore/stream"
        self.ws = await websockets.connect(url, subprotocols=["streamlit"], max_size=None, ping_interval=None,
                                           open_timeout=30, proxy=None, additional_headers=cookie_header(self.cookies))
        self.replica = self.ws.response.headers.get("X-Replica", "")
        self.cookies.update(set_cookies(self.ws.response.headers))
        # A new session: the browser reopens its address (page and query), as after a reload.
        self.page_hash, self.widget_ids = "", {}

    async def open_page(self) -> None:
        """Open the playground's deep link (a second run if the first one fell back to home)."""
        await self.rerun()
        if not all(key in self.widget_ids for key in SLIDERS):
            await self.rerun()

    async def rerun(self, widgets: dict | None = None) -> float:
        """One rerun with the changed widgets' values; reads until the run ends; seconds."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string, state.page_name, state.page_script_hash = self.query, self.page, self.page_hash
        for key, value in (widgets or {}).items():
            widget = state.widget_states.widgets.add()
            widget.id = self.widget_ids[key]
            if value is True:  # a button's click
                widget.trigger_value = True
            elif isinstance(value, str):
                widget.string_value = value
            elif isinstance(value, FileUploaderState):
                widget.file_uploader_state_value.CopyFrom(value)
            else:
                widget.double_array_value.data.append(value)
        start = time.perf_counter()
        self.seen, self.alerts, self.images, self.texts = set(), [], [], []
        await self.ws.send(msg.SerializeToString())
        await asyncio.wait_for(self._read_until_finished(), RUN_S)
        return time.perf_counter() - start

    async def _read_until_finished(self) -> None:
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self.ws.recv())
            kind = fwd.WhichOneof("type")
            if kind == "new_session":
                self.page_hash = fwd.new_session.page_script_hash
                self.session_id = fwd.new_session.initialize.session_id or self.session_id
            elif kind == "navigation" and fwd.navigation.page_script_hash:
                self.page_hash = fwd.navigation.page_script_hash
                for page in fwd.navigation.app_pages:  # the address's path, as the browser shows it
                    if page.page_script_hash == self.page_hash:
                        self.page = page.url_pathname
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif kind == "file_urls_response":
                self.file_urls = fwd.file_urls_response
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                field = element.WhichOneof("type")
                if field == "exception":
                    self.errors += 1
                elif field == "alert":
                    self.alerts.append(element.alert.body)
                elif field == "markdown":
                    self.texts.append(element.markdown.body)
                elif field == "imgs":
                    self.images += [img.url for img in element.imgs.imgs]
                widget_id = getattr(getattr(element, field), "id", "")
                if isinstance(widget_id, str) and widget_id.startswith("$$ID-"):
                    key = widget_id.split("-", 2)[2]
                    self.widget_ids[key] = widget_id
                    self.seen.add(key)
            elif kind == "script_finished" and fwd.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return

    async def upload_url(self) -> tuple[str, str]:
        """Ask the session for an upload URL as st.file_uploader does: (upload URL path, file id)."""
        if "kp_img_upload" not in self.widget_ids:
            await self.rerun({"kp_img_source": "Upload"})
        ask = BackMsg()
        ask.file_urls_request.request_id = f"r{self.uploads}"
        ask.file_urls_request.file_names.append("photo.png")
        ask.file_urls_request.session_id = self.session_id
        self.file_urls = None
        await self.ws.send(ask.SerializeToString())
        while self.file_urls is None:
            fwd = ForwardMsg()
            fwd.ParseFromString(await asyncio.wait_for(self.ws.recv(), RUN_S))
            if fwd.WhichOneof("type") == "file_urls_response":
                self.file_urls = fwd.file_urls_response
        urls = self.file_urls.file_urls[0]
        return urls.upload_url, urls.file_id

    async def upload(self, data: bytes, cookies: dict[str, str] | None = None) -> tuple[int, str]:
        """PUT a picture to a fresh upload URL through the balancer, with ``cookies`` (default: the
        student's own, the SRV cookie included) and the XSRF header; (HTTP status, body)."""
        path, _ = await self.upload_url()
        return await asyncio.to_thread(put, self.base + path, data, cookies or self.cookies)

    async def show_upload(self, data: bytes) -> None:
        """After a successful PUT: rerun with the uploader's new state, as the browser does."""
        urls = self.file_urls.file_urls[0]
        state = FileUploaderState()
        info = state.uploaded_file_info.add()
        info.file_id, info.name, info.size = urls.file_id, "photo.png", len(data)
        info.file_urls.CopyFrom(urls)
        self.uploads += 1
        await self.rerun({"kp_img_upload": state})

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def put(url: str, data: bytes, cookies: dict[str, str]) -> tuple[int, str]:
    """The browser's upload: multipart form data, the XSRF cookie echoed in a header."""
    boundary = "----hall-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}",
               "X-Xsrftoken": cookies.get("_streamlit_xsrf", ""), **cookie_header(cookies)}
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def photo_png(seed: int, side: int = 96) -> bytes:
    """A small new picture (smooth noise) as a student's upload."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (side // 16, side // 16, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(small).resize((side, side), Image.Resampling.BICUBIC).save(buffer, format="PNG")
    return buffer.getvalue()
