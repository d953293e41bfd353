"""A small etcd v3 client over the JSON gateway (python3-etcd3gw), with compare-and-swap.

Endpoints are ``http://host:port`` or ``unix://<socket path>`` (the lab's etcd listens only on
a unix socket; etcd serves its JSON gateway there too). Values are text; revisions are ints.
"""
import base64
import json
import socket

from etcd3gw.client import Etcd3Client
import requests.adapters
from urllib3.connection import HTTPConnection
from urllib3.connectionpool import HTTPConnectionPool


def _b64(text):
    return base64.b64encode(text.encode('utf-8')).decode('ascii')


def _unb64(text):
    return base64.b64decode(text).decode('utf-8')


def prefix_end(prefix):
    """The range end that covers every key starting with ``prefix``."""
    raw = bytearray(prefix.encode('utf-8'))
    raw[-1] += 1
    return bytes(raw).decode('utf-8')


class _UnixConnection(HTTPConnection):
    def __init__(self, path, **kwargs):
        super().__init__('localhost', **kwargs)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if isinstance(self.timeout, (int, float)):
            sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class _UnixPool(HTTPConnectionPool):
    def __init__(self, path, **kwargs):
        super().__init__('localhost', **kwargs)
        self._path = path

    def _new_conn(self):
        return _UnixConnection(self._path, timeout=self.timeout.connect_timeout)


class _UnixAdapter(requests.adapters.HTTPAdapter):
    """Sends every request of a requests session to one unix socket."""

    def __init__(self, path):
        super().__init__()
        self._pool = _UnixPool(path, maxsize=4)

    def get_connection(self, url, proxies=None):
        return self._pool

    def close(self):
        self._pool.close()


def parse_endpoint(endpoint):
    """``(host, port, unix_path)`` of an endpoint text; raises ValueError naming what is allowed."""
    endpoint = endpoint.split(',')[0].strip()
    if endpoint.startswith('unix://'):
        # etcd names the socket file after the URL's whole host part: `unix://x.sock:0` listens
        # on the file `x.sock:0` (the lab's form).
        return 'localhost', 2379, endpoint[len('unix://'):]
    if endpoint.startswith('http://'):
        rest = endpoint[len('http://'):].rstrip('/')
        host, _, port = rest.rpartition(':')
        if host and port.isdigit():
            return host.strip('[]'), int(port), None
    raise ValueError('[margay] etcd_endpoint %r: expected http://HOST:PORT or unix://PATH' % endpoint)


class Etcd(object):
    """The driver's etcd operations: reads with revisions, CAS writes and deletes, a prefix watch."""

    def __init__(self, endpoint, timeout=10.0):
        host, port, path = parse_endpoint(endpoint)
        self.timeout = timeout
        self.client = Etcd3Client(host=host, port=port, api_path='/v3/')
        if path is not None:
            self.client.session.mount('http://', _UnixAdapter(path))

    def _post(self, path, payload, timeout=None):
        return self.client.post(self.client.get_url(path), data=json.dumps(payload),
                                timeout=timeout or self.timeout)

    def get(self, key):
        """``(value, mod_revision)`` or None when the key is absent."""
        result = self._post('/kv/range', {'key': _b64(key)})
        for kv in result.get('kvs', []):
            return _unb64(kv.get('value', '')), int(kv['mod_revision'])
        return None

    def get_prefix(self, prefix):
        """``({key: (value, mod_revision)}, revision)`` of every key under ``prefix``."""
        result = self._post('/kv/range', {'key': _b64(prefix), 'range_end': _b64(prefix_end(prefix))})
        items = {}
        for kv in result.get('kvs', []):
            items[_unb64(kv['key'])] = (_unb64(kv.get('value', '')), int(kv['mod_revision']))
        return items, int(result['header']['revision'])

    def _txn(self, key, mod_revision, request):
        compare = [{'key': _b64(key), 'result': 'EQUAL', 'target': 'MOD', 'mod_revision': str(mod_revision)}]
        result = self._post('/kv/txn', {'compare': compare, 'success': [request]})
        # The gateway leaves false booleans out.
        return bool(result.get('succeeded', False))

    def cas_put(self, key, value, mod_revision):
        """Writes ``value`` if the key's mod revision is ``mod_revision`` (0: only if absent)."""
        return self._txn(key, mod_revision, {'request_put': {'key': _b64(key), 'value': _b64(value)}})

    def cas_delete(self, key, mod_revision):
        """Deletes the key if its mod revision is ``mod_revision``."""
        return self._txn(key, mod_revision, {'request_delete_range': {'key': _b64(key)}})

    def watch_prefix(self, prefix, start_revision):
        """Yields ``(key, value or None)`` for every change under ``prefix`` from ``start_revision``.

        Ends (returns) when the stream closes; raises on errors. A compacted start revision raises too
        (the caller lists again).
        """
        request = {'create_request': {'key': _b64(prefix), 'range_end': _b64(prefix_end(prefix)),
                                      'start_revision': str(start_revision)}}
        resp = self.client.session.post(self.client.get_url('/watch'), data=json.dumps(request),
                                        stream=True, timeout=(self.timeout, None))
        try:
            for line in resp.iter_lines(chunk_size=None):
                if not line:
                    continue
                result = json.loads(line.decode('utf-8')).get('result', {})
                if result.get('canceled') or result.get('compact_revision'):
                    raise RuntimeError('etcd watch of %s canceled (compacted: %s)'
                                       % (prefix, result.get('compact_revision')))
                for event in result.get('events', []):
                    kv = event['kv']
                    deleted = event.get('type') == 'DELETE'
                    yield _unb64(kv['key']), None if deleted else _unb64(kv.get('value', ''))
        finally:
            resp.close()
