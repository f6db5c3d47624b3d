"""Query a TF Serving server over REST or gRPC with rows of a CSV file, printing its predictions.

The served model describes itself: its raw signature's inputs give the columns and dtypes to send,
and the chosen signature's outputs (probabilities, classes or a prediction, by task) what comes back.
No project code is imported, so any project's model can be queried."""

from __future__ import annotations

import base64
import csv
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import WorkFailed
from pipeline.vocabulary import RAW_SIGNATURE, SERVING_INPUT, SERVING_SIGNATURE

FLOAT_TYPES = frozenset({"DT_FLOAT", "DT_DOUBLE"})
INT_TYPES = frozenset({"DT_INT64", "DT_INT32"})
STRING_TYPES = frozenset({"DT_STRING"})
DEFAULT_TIMEOUT = 10.0

Cell = str | int | float | None
Row = dict[str, Cell]
# One served prediction: each output of the signature (probabilities, classes, prediction) for a row.
Prediction = dict[str, object]


@dataclass(frozen=True)
class Answer:
    """The server's predictions, one per row, and the version that answered (None: not said)."""

    predictions: list[Prediction]
    version: int | None


class ClientError(WorkFailed):
    """The request could not be made or the server refused it; the message says which."""


def read_rows(path: Path, types: dict[str, str]) -> list[Row]:
    """Raw feature columns of each row, converted to the model's dtypes (None when empty)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [k for k in types if k not in (reader.fieldnames or [])]
            if missing:
                raise ClientError(f"{path}: missing column(s) {', '.join(missing)}")
            return [_typed(path, line, row, types) for line, row in enumerate(reader, start=2)]
    except OSError as error:
        raise ClientError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ClientError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from error


def require_csv(path: Path) -> None:
    """Refuse a missing file, a folder or a non-UTF-8 file before any request is sent."""
    if not path.is_file():
        raise ClientError(f"{path} is not a file")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            for _ in handle:
                pass
    except OSError as error:
        raise ClientError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise ClientError(f"{path} is not UTF-8 text ({error.reason} at byte {error.start})") from error


def _typed(path: Path, line: int, row: dict[str, str], types: dict[str, str]) -> Row:
    """One row's features with the signature's dtypes; bad values name file, line and column."""
    typed: Row = {}
    for key in types:
        text, dtype = (row.get(key) or "").strip(), types[key]
        try:
            typed[key] = None if text == "" else _convert(text, dtype)
        except ValueError as error:
            raise ClientError(f"{path}, line {line}, column '{key}': {error}") from error
    return typed


def _convert(text: str, dtype: str) -> Cell:
    """Parse one CSV cell as the dtype the model expects."""
    if dtype in FLOAT_TYPES:
        return float(text)
    if dtype in INT_TYPES:
        number = float(text)
        if not number.is_integer():
            raise ValueError(f"{text!r} is not an integer ({dtype})")
        return int(number)
    if dtype in STRING_TYPES:
        return text
    raise ValueError(f"unsupported input dtype {dtype}")


def example_bytes(row: Row, types: dict[str, str]) -> bytes:
    """A serialized tf.Example with every present feature (missing ones are left out)."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.Example()
    for key, value in row.items():
        if value is None:
            continue
        feature = example.features.feature[key]
        if types[key] in FLOAT_TYPES:
            feature.float_list.value.append(float(value))
        elif types[key] in INT_TYPES:
            feature.int64_list.value.append(int(value))
        else:
            feature.bytes_list.value.append(str(value).encode())
    return example.SerializeToString()


def _require_complete(rows: list[Row]) -> None:
    """The raw signature takes one dense value per feature: empty cells cannot be sent."""
    for index, row in enumerate(rows, start=2):
        empty = [k for k, v in row.items() if v is None]
        if empty:
            raise ClientError(
                f"line {index}: empty {', '.join(empty)}; {RAW_SIGNATURE} needs every feature "
                f"(use {SERVING_SIGNATURE}, which accepts missing values)"
            )


def rest_body(signature: str, rows: list[Row], types: dict[str, str]) -> dict:
    """TF Serving's row-format predict body: b64 tf.Examples or raw JSON features."""
    instances: list[dict[str, object]]
    if signature == SERVING_SIGNATURE:
        instances = [
            {SERVING_INPUT: {"b64": base64.b64encode(example_bytes(row, types)).decode("ascii")}}
            for row in rows
        ]
    else:
        _require_complete(rows)
        instances = [dict(row) for row in rows]
    return {"signature_name": signature, "instances": instances}


def model_url(server: str, model: str, version: int | None, label: str | None) -> str:
    """/v1/models/NAME[/versions/V | /labels/L], TF Serving's REST resource for a model."""
    url = f"{server.rstrip('/')}/v1/models/{model}"
    if version is not None:
        return f"{url}/versions/{version}"
    return f"{url}/labels/{label}" if label else url


def http_json(url: str, body: dict | None = None, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """GET (or POST a JSON body) and decode the JSON answer; errors carry the server's message."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ClientError(f"TF Serving answered HTTP {error.code} for {url}: "
                          f"{_error_text(error.read())}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ClientError(f"cannot reach TF Serving at {url}: {reason}") from error
    except json.JSONDecodeError as error:
        raise ClientError(f"{url} did not answer JSON: {error}") from error


def _error_text(payload: bytes) -> str:
    """The "error" field of TF Serving's error JSON, or the raw text."""
    try:
        return str(json.loads(payload)["error"])
    except (ValueError, KeyError, TypeError):
        return payload.decode(errors="replace").strip() or "(empty answer)"


def rest_signatures(answer: dict, url: str) -> dict:
    """The served model's signature definitions, from the answer to GET <model url>/metadata."""
    try:
        return dict(answer["metadata"]["signature_def"]["signature_def"])
    except (KeyError, TypeError) as error:
        raise ClientError(f"{url}/metadata has no signature definitions") from error


def rest_version(answer: dict) -> int | None:
    """The version a GET <model url>/metadata answer describes (None when it does not say)."""
    try:
        return int(answer["model_spec"]["version"])
    except (KeyError, TypeError, ValueError):
        return None


def rest_input_types(signatures: dict, url: str) -> dict[str, str]:
    """Input dtypes of the raw signature: the columns a client sends."""
    try:
        inputs = signatures[RAW_SIGNATURE]["inputs"]
        return {name: spec["dtype"] for name, spec in inputs.items()}
    except (KeyError, TypeError) as error:
        raise ClientError(f"{url}/metadata has no '{RAW_SIGNATURE}' signature inputs") from error


def output_names(signatures: dict, signature: str) -> list[str]:
    """The outputs a signature returns, sorted (TF Serving's row format names them only when several)."""
    try:
        return sorted(signatures[signature]["outputs"])
    except (KeyError, TypeError) as error:
        raise ClientError(f"the served model has no '{signature}' signature") from error


def rest_predictions(answer: dict, outputs: list[str]) -> list[Prediction]:
    """Per-row outputs from a row-format answer (one output: bare values; several: dicts)."""
    try:
        rows = answer["predictions"]
        return [dict(row) if isinstance(row, dict) else {outputs[0]: row} for row in rows]
    except (KeyError, TypeError, IndexError) as error:
        raise ClientError(f"unexpected predict answer: {json.dumps(answer)[:200]}") from error


def predict_rest(server: str, model: str, version: int | None, label: str | None,
                 signature: str, csv_path: Path, timeout: float) -> Answer:
    """Read the rows with the served model's types, POST them to :predict, return each row's
    outputs and the version its metadata named."""
    require_csv(csv_path)
    url = model_url(server, model, version, label)
    metadata = http_json(f"{url}/metadata", timeout=timeout)
    signatures = rest_signatures(metadata, url)
    types = rest_input_types(signatures, url)
    body = rest_body(signature, read_rows(csv_path, types), types)
    return Answer(rest_predictions(http_json(f"{url}:predict", body, timeout),
                                   output_names(signatures, signature)), rest_version(metadata))


def _model_spec(spec, model: str, version: int | None, label: str | None) -> None:
    """Fill a ModelSpec with the name and the version or label asked for."""
    spec.name = model
    if version is not None:
        spec.version.value = version
    elif label:
        spec.version_label = label


def grpc_request(signature: str, rows: list[Row], types: dict[str, str]):
    """A PredictRequest: a batch of serialized tf.Examples, or one tensor per raw feature."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.signature_name = signature
    if signature == SERVING_SIGNATURE:
        serialized = [example_bytes(row, types) for row in rows]
        request.inputs[SERVING_INPUT].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
        return request
    _require_complete(rows)
    for key in types:
        dtype = tf.dtypes.as_dtype(types[key].removeprefix("DT_").lower())
        request.inputs[key].CopyFrom(tf.make_tensor_proto([row[key] for row in rows], dtype=dtype))
    return request


def predict_grpc(target: str, model: str, version: int | None, label: str | None,
                 signature: str, csv_path: Path, timeout: float) -> Answer:
    """Same as predict_rest through PredictionService's GetModelMetadata and Predict stubs."""
    require_csv(csv_path)
    import grpc
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import (
        get_model_metadata_pb2,
        prediction_service_pb2_grpc,
    )

    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        meta_request = get_model_metadata_pb2.GetModelMetadataRequest(
            metadata_field=["signature_def"]
        )
        _model_spec(meta_request.model_spec, model, version, label)
        try:
            meta = stub.GetModelMetadata(meta_request, timeout=timeout)
            signatures = get_model_metadata_pb2.SignatureDefMap()
            meta.metadata["signature_def"].Unpack(signatures)
            inputs = signatures.signature_def[RAW_SIGNATURE].inputs
            types = {k: types_pb2.DataType.Name(v.dtype) for k, v in inputs.items()}
            request = grpc_request(signature, read_rows(csv_path, types), types)
            _model_spec(request.model_spec, model, version, label)
            answer = stub.Predict(request, timeout=timeout)
        except grpc.RpcError as error:
            raise ClientError(
                f"TF Serving at {target} answered {error.code().name}: {error.details()}"
            ) from error
    answered = answer.model_spec.version.value if answer.model_spec.HasField("version") else None
    return Answer(grpc_predictions({name: tf.make_ndarray(proto)
                                    for name, proto in answer.outputs.items()}), answered)


def grpc_predictions(outputs: dict) -> list[Prediction]:
    """Per-row outputs from a PredictResponse's tensors (numpy arrays, batch first)."""
    rows = len(next(iter(outputs.values()))) if outputs else 0
    return [{name: _plain(values[index]) for name, values in sorted(outputs.items())}
            for index in range(rows)]


def _plain(value: object) -> object:
    """A numpy cell as JSON-like Python: floats, lists of floats, or text."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
