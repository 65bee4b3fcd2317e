"""What a ``postgresql://`` source spec says: where to connect, which schema, which names.

A spec is a libpq connection URL, ``postgresql://USER@HOST:PORT/DATABASE`` (``postgres://``
too), with libpq's own query parameters (``sslmode``, ``service``, ``connect_timeout``, ...)
passed on, and two of the dashboard's:

* ``schema=NAME``: the schema holding the tables (default ``public``);
* ``mapping=FILE``: a small TOML or JSON file naming the tables and columns that differ
  (:func:`read_mapping`).

A password is never part of a spec: one inside the URL (``USER:PASSWORD@``) or as a
``password=`` parameter is refused, since it would show on the command line and in the
process list; libpq takes it from ``PGPASSWORD``, ``~/.pgpass`` or a service file.
Nothing here connects to a database.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

from dashboard import SourceError
from dashboard.sources.base import is_database_url
from dashboard.vocab import ALL_TABLES

DEFAULT_SCHEMA = "public"
CONNECT_TIMEOUT_SECONDS = 10
"""How long a connection attempt waits for the server (libpq ``connect_timeout``) unless the
URL sets it: an unreachable host fails in seconds rather than minutes."""
APPLICATION_NAME = "collections-dashboard"
"""How the dashboard's sessions appear in ``pg_stat_activity`` unless the URL names one."""
OWN_PARAMETERS = ("schema", "mapping")
"""Query parameters the dashboard reads itself (libpq would refuse them)."""
PASSWORD_ADVICE = (
    "give it with PGPASSWORD, ~/.pgpass (PGPASSFILE) or a service file (PGSERVICEFILE) instead"
)
MAPPING_SECTIONS = ("tables", "columns")


@dataclass(frozen=True)
class NameMap:
    """The database's names of the dashboard's tables and columns, where they differ.

    Attributes
    ----------
    tables : dict of str to str
        Database table (or view) name per dashboard table name.
    columns : dict of str to dict of str to str
        Per dashboard table, the database column name per dashboard column name.
    file : str
        The mapping file ('' when none).
    digest : str
        BLAKE2b digest of the file's bytes ('' when none): part of the source's signature.
    """

    tables: Mapping[str, str] = field(default_factory=dict)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    file: str = ""
    digest: str = ""

    def table(self, name: str) -> str:
        """The database's name of a dashboard table."""
        return self.tables.get(name, name)

    def column(self, table: str, name: str) -> str:
        """The database's name of a dashboard column of ``table``."""
        return self.columns.get(table, {}).get(name, name)


@dataclass(frozen=True)
class DatabaseSpec:
    """A parsed ``postgresql://`` spec.

    Attributes
    ----------
    scheme : str
        ``postgresql`` or ``postgres``.
    userinfo : str
        ``USER`` as written (percent-encoded), '' when not given.
    hosts : str
        ``HOST[:PORT][,HOST[:PORT]...]`` as written, '' for libpq's default.
    database : str
        Database name as written (percent-encoded), '' for libpq's default.
    parameters : tuple of (str, str)
        libpq query parameters, in order.
    schema : str
        The schema holding the tables.
    mapping : str
        Absolute path of the mapping file, '' when none.
    """

    scheme: str
    userinfo: str
    hosts: str
    database: str
    parameters: tuple[tuple[str, str], ...]
    schema: str = DEFAULT_SCHEMA
    mapping: str = ""

    @property
    def place(self) -> str:
        """``postgresql://HOST:PORT/DATABASE``: where the tables are, for error messages."""
        return f"{self.scheme}://{self.hosts}/{self.database}"

    def url(self) -> str:
        """The URL as given, without the dashboard's parameters (never a password)."""
        user = f"{self.userinfo}@" if self.userinfo else ""
        query = f"?{urlencode(self.parameters, quote_via=quote)}" if self.parameters else ""
        return f"{self.scheme}://{user}{self.hosts}/{self.database}{query}"

    def spec(self) -> str:
        """The text that opens this source again: the URL, then ``schema`` and ``mapping``
        when they are not the defaults."""
        own = [("schema", self.schema)] if self.schema != DEFAULT_SCHEMA else []
        own += [("mapping", self.mapping)] if self.mapping else []
        if not own:
            return self.url()
        joiner = "&" if self.parameters else "?"
        return f"{self.url()}{joiner}{urlencode(own, quote_via=quote, safe='/')}"

    def conninfo(self) -> str:
        """The URL handed to libpq: the one given, with a connection timeout and an
        application name unless it sets them."""
        names = {name for name, _ in self.parameters}
        extra = [("connect_timeout", str(CONNECT_TIMEOUT_SECONDS))]
        extra += [("application_name", APPLICATION_NAME)]
        parameters = [*self.parameters, *((n, v) for n, v in extra if n not in names)]
        user = f"{self.userinfo}@" if self.userinfo else ""
        query = urlencode(parameters, quote_via=quote)
        return f"postgresql://{user}{self.hosts}/{self.database}?{query}"

    def describe(self) -> str:
        """The source in a few words: the URL, its schema and mapping file."""
        mapping = f", mapping {self.mapping}" if self.mapping else ""
        return f"{self.url()} (schema {self.schema}{mapping})"

    def origin(self, relation: str) -> str:
        """Where a table is, in messages: ``postgresql://HOST:PORT/DB:SCHEMA.TABLE``."""
        return f"{self.place}:{self.schema}.{relation}"


def parse_spec(spec: str) -> DatabaseSpec:
    """Parse a ``postgresql://`` spec; refuse a password in it.

    Parameters
    ----------
    spec : str
        ``postgresql://[USER@][HOST[:PORT]][/DATABASE][?PARAM=VALUE&...]``.

    Returns
    -------
    DatabaseSpec

    Raises
    ------
    SourceError
        One line: a password in the URL (the password itself is never shown), an empty
        ``schema``, or a spec that is not such a URL.
    """
    text = spec.strip()
    if not is_database_url(text):
        raise SourceError(f"{spec}: not a postgresql:// URL")
    scheme, rest = text.split("://", 1)
    rest, _, query = rest.partition("?")
    authority, _, database = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if not at:
        userinfo, hosts = "", authority
    shown = f"{scheme.lower()}://{userinfo.split(':', 1)[0]}{at}{hosts}/{database}"
    parameters = parse_qsl(query, keep_blank_values=True)
    if ":" in userinfo or any(name == "password" for name, _ in parameters):
        raise SourceError(
            f"{shown}: a password in the URL would show on the command line and in the "
            f"process list: {PASSWORD_ADVICE}"
        )
    own = {name: value for name, value in parameters if name in OWN_PARAMETERS}
    schema = own.get("schema", DEFAULT_SCHEMA)
    if not schema.strip():
        raise SourceError(f"{shown}: empty schema name (schema=)")
    mapping = own.get("mapping", "")
    return DatabaseSpec(
        scheme=scheme.lower(),
        userinfo=userinfo,
        hosts=hosts,
        database=database,
        parameters=tuple((n, v) for n, v in parameters if n not in OWN_PARAMETERS),
        schema=schema,
        mapping=str(Path(mapping).expanduser().absolute()) if mapping else "",
    )


def with_options(source: str, schema: str | None = None, mapping: str | Path | None = None) -> str:
    """A source spec with ``--schema`` and ``--mapping`` applied (CLI options).

    Parameters
    ----------
    source : str
        The ``--source`` value.
    schema : str, optional
        Overrides the URL's ``schema``.
    mapping : str or Path, optional
        Overrides the URL's ``mapping`` (a relative path is taken from the working folder).

    Returns
    -------
    str
        ``source`` itself when neither option is given.

    Raises
    ------
    SourceError
        When an option is given for a source that is not a ``postgresql://`` URL, or
        :func:`parse_spec` refuses the URL.
    """
    if schema is None and mapping is None:
        return source
    if not is_database_url(source):
        given = "--schema" if schema is not None else "--mapping"
        raise SourceError(f"{given} applies to a PostgreSQL source (postgresql://...) only")
    parsed = parse_spec(source)
    changes = {}
    if schema is not None:
        if not schema.strip():
            raise SourceError("--schema: empty schema name")
        changes["schema"] = schema
    if mapping is not None:
        changes["mapping"] = str(Path(mapping).expanduser().absolute())
    return DatabaseSpec(**{**parsed.__dict__, **changes}).spec()


def read_mapping(path: str) -> NameMap:
    """Read and check a mapping file (TOML, or JSON when it ends in ``.json`` or starts
    with ``{``)::

        [tables]                 # dashboard table = the database's table (or view)
        bills = "invoices"

        [columns.bills]          # dashboard column = the database's column
        bill_amount = "amount_gbp"

    Tables and columns not named keep the dashboard's names.

    Parameters
    ----------
    path : str
        The file ('' for no mapping).

    Returns
    -------
    NameMap

    Raises
    ------
    SourceError
        One line naming the file and the entry: a missing or unreadable file, bad TOML or
        JSON, an unknown section, table or column, or a name that is not a non-empty string.
    """
    if not path:
        return NameMap()
    data = _load_mapping_file(Path(path))
    unknown = [key for key in data if key not in MAPPING_SECTIONS]
    if unknown:
        raise SourceError(
            f"{path}: unknown section {unknown[0]!r} (a mapping has [tables] and "
            "[columns.TABLE] only)"
        )
    tables = _names(data.get("tables", {}), ALL_TABLES, path, "[tables]", "a table")
    columns = {}
    for table, names in _section(data.get("columns", {}), path, "[columns]").items():
        if table not in ALL_TABLES:
            raise SourceError(
                f"{path}: [columns.{table}]: not a table of the dashboard ({', '.join(ALL_TABLES)})"
            )
        known = dict.fromkeys(ALL_TABLES[table])
        columns[table] = _names(names, known, path, f"[columns.{table}]", f"a column of {table}")
    digest = hashlib.blake2b(Path(path).read_bytes(), digest_size=16).hexdigest()
    return NameMap(tables, columns, path, digest)


def _load_mapping_file(file: Path) -> dict:
    try:
        raw = file.read_bytes()
    except FileNotFoundError:
        raise SourceError(f"{file}: mapping file missing") from None
    except OSError as exc:
        raise SourceError(f"{file}: mapping file cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SourceError(f"{file}: mapping file is not UTF-8 text") from None
    if file.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"{file}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SourceError(f"{file}: not valid TOML ({str(exc).splitlines()[0]})") from None
    return _section(data, str(file), "the file")


def _section(value: object, path: str, where: str) -> dict:
    if not isinstance(value, dict):
        raise SourceError(f'{path}: {where} must be a table of names (NAME = "...")')
    return value


def _names(value: object, known: Mapping, path: str, where: str, what: str) -> dict[str, str]:
    """Check one section: dashboard names (keys of ``known``) to non-empty strings."""
    names = {}
    for name, target in _section(value, path, where).items():
        if name not in known:
            raise SourceError(f"{path}: {where} {name!r}: not {what} ({', '.join(known)})")
        if not isinstance(target, str) or not target.strip():
            raise SourceError(
                f"{path}: {where} {name!r}: give the database's name as a non-empty string"
            )
        names[name] = target
    return names
