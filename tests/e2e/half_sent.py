"""A hostile HTTP/2 client for the e2e tests: it opens gRPC calls to a method, announces a
request message of a given size and sends all of it but its last byte, honouring flow control,
then holds the calls open. gRPC clients cannot do this (they send whole messages), and it is
what makes a gRPC server buffer requests that never reach a handler."""
import socket
import ssl
import threading
import time

import h2.config
import h2.connection
import h2.events


class HalfSentCalls:
    """`streams` calls to `path` on one connection, each announcing `message_bytes`. Use as a
    context manager: pumping runs in a thread until exit. `sent` counts the request bytes the
    server let in (flow control), `ended` holds the calls it ended."""

    def __init__(self, address, path, streams, message_bytes, tls_ca=None, token=None):
        host, port = address.rsplit(":", 1)
        sock = socket.create_connection((host, int(port)), timeout=10)
        if tls_ca is not None:
            context = ssl.create_default_context(cafile=str(tls_ca))
            context.set_alpn_protocols(["h2"])
            sock = context.wrap_socket(sock, server_hostname=host)
        sock.settimeout(0.1)
        self._sock = sock
        self._conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self._conn.initiate_connection()
        headers = [(":method", "POST"), (":scheme", "https" if tls_ca else "http"),
                   (":path", path), (":authority", address), ("content-type", "application/grpc"),
                   ("te", "trailers")]
        if token is not None:
            headers.append(("authorization", f"Bearer {token}"))
        # Per call: the bytes still to send (5-byte gRPC prefix, then the message less 1 byte).
        self._left = {}
        for _ in range(streams):
            stream_id = self._conn.get_next_available_stream_id()
            self._conn.send_headers(stream_id, headers)
            self._left[stream_id] = (b"\x00" + message_bytes.to_bytes(4, "big"),
                                     message_bytes - 1)
        self._sock.sendall(self._conn.data_to_send())
        self.sent = 0
        self.ended = set()  # calls the server ended (reset, or answered with a status)
        self.closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._pump, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        self._sock.close()

    def _send_what_the_windows_allow(self):
        for stream_id, (prefix, left) in list(self._left.items()):
            window = min(self._conn.local_flow_control_window(stream_id),
                         self._conn.max_outbound_frame_size)
            if window <= 0:
                continue
            body = min(left, window - len(prefix))
            chunk = (prefix + b"\x01" * max(body, 0))[:window]
            self._conn.send_data(stream_id, chunk)
            self.sent += len(chunk)
            prefix, left = prefix[len(chunk):], left - max(len(chunk) - len(prefix), 0)
            if prefix or left > 0:
                self._left[stream_id] = (prefix, left)
            else:
                del self._left[stream_id]

    def _pump(self):
        while not self._stop.is_set() and not self.closed:
            self._send_what_the_windows_allow()
            try:
                self._sock.sendall(self._conn.data_to_send())
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed = True
                return
            if not data:
                self.closed = True
                return
            for event in self._conn.receive_data(data):
                if isinstance(event, (h2.events.StreamReset, h2.events.StreamEnded)):
                    self._left.pop(event.stream_id, None)
                    self.ended.add(event.stream_id)
                elif isinstance(event, h2.events.ConnectionTerminated):
                    self.closed = True

    def wait_until_stuck(self, quiet=1.0, timeout=30):
        """Returns once no request byte got through for `quiet` seconds (the server lets no
        more in) or every call has ended."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline and not self.closed:
            if self.sent != last:
                last, since = self.sent, time.monotonic()
            elif time.monotonic() - since >= quiet or not self._left:
                return
            time.sleep(0.05)
