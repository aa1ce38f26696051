"""Run a classifier bundle in MediaPipe Tasks for the web (``@mediapipe/tasks-vision``,
``tasks-audio`` or ``tasks-text`` in headless Chromium) and compare its scores with the LiteRT
Interpreter on the same input.

Images: the browser gets each golden image as RGBA bytes (``ImageData``), the pixels the bundle
was checked on rounded to uint8; the Interpreter gets the same pixels / 255 (what the file's
normalization metadata tells MediaPipe to do). Audio (keyword spotting): each golden clip as a
``Float32Array`` at the bundle's sample rate, one window of the model's length. Text (word-id
families): each golden row's words as a string, which MediaPipe tokenizes with the file's
metadata and the Interpreter reads through the bundle's own tokenizer. A mode passes when
every score is within ``--tolerance`` of the Interpreter's and the top-1 classes agree.

Needs Node.js with npm (the packages are installed once into ``--work``) and Chromium
(Debian: ``apt-get install chromium``). Exit 0 all passed, 1 a mode failed, 2 bad input.

    python tools/check_mediapipe_web.py exports/image_classification-cnn-digits
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socketserver
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kerasuite.errors import UserError  # noqa: E402
from kerasuite.io_utils import write_json_atomic  # noqa: E402

# The versions this check was measured with (2026-12-04); the packages ship the wasm runtime.
NPM_PACKAGES = ("@mediapipe/tasks-vision@1.1.0", "@mediapipe/tasks-audio@1.0.1", "@mediapipe/tasks-text@1.0.1",
                "playwright-core@1.65.2")
WEB_MODES = ("float32", "float16", "dynamic", "int8_float_io")  # files with float or uint8-pixel inputs

PAGE = """<!doctype html><html><body><script type="module">
try {
  const input = await (await fetch("/inputs.json")).json();
  let scores;
  if (input.kind === "image") {
    const {ImageClassifier, FilesetResolver} = await import("/node_modules/@mediapipe/tasks-vision/vision_bundle.mjs");
    const fileset = await FilesetResolver.forVisionTasks("/node_modules/@mediapipe/tasks-vision/wasm");
    const classifier = await ImageClassifier.createFromOptions(fileset, {
      baseOptions: {modelAssetPath: "/model.tflite", delegate: "CPU"}, maxResults: -1, runningMode: "IMAGE"});
    scores = input.items.map(image => classifier.classify(
        new ImageData(new Uint8ClampedArray(image.rgba), image.width, image.height))
      .classifications[0].categories.map(c => [c.index, c.score]));
  } else if (input.kind === "text") {
    const {TextClassifier, FilesetResolver} = await import("/node_modules/@mediapipe/tasks-text/text_bundle.mjs");
    const fileset = await FilesetResolver.forTextTasks("/node_modules/@mediapipe/tasks-text/wasm");
    const classifier = await TextClassifier.createFromOptions(fileset, {
      baseOptions: {modelAssetPath: "/model.tflite", delegate: "CPU"}, maxResults: -1});
    scores = input.items.map(text => classifier.classify(text).classifications[0].categories.map(c => [c.index, c.score]));
  } else {
    const {AudioClassifier, FilesetResolver} = await import("/node_modules/@mediapipe/tasks-audio/audio_bundle.mjs");
    const fileset = await FilesetResolver.forAudioTasks("/node_modules/@mediapipe/tasks-audio/wasm");
    const classifier = await AudioClassifier.createFromOptions(fileset, {
      baseOptions: {modelAssetPath: "/model.tflite", delegate: "CPU"}, maxResults: -1});
    scores = input.items.map(clip => {
      const windows = classifier.classify(new Float32Array(clip.samples), clip.rate);
      if (windows.length !== 1) throw new Error(`a clip of the model's length gave ${windows.length} windows`);
      return windows[0].classifications[0].categories.map(c => [c.index, c.score]);
    });
  }
  window.__result = {ok: true, scores};
} catch (error) {
  window.__result = {ok: false, error: String(error)};
}
</script></body></html>
"""

DRIVER = """import {chromium} from "playwright-core";
const browser = await chromium.launch({executablePath: process.argv[3], args: ["--no-sandbox"]});
const page = await browser.newPage();
await page.goto(process.argv[2]);
await page.waitForFunction(() => window.__result !== undefined, null, {timeout: 120000});
console.log(JSON.stringify(await page.evaluate(() => window.__result)));
await browser.close();
"""


def prepare_work(work: Path) -> None:
    """npm packages into ``work`` (once), and the page and driver beside them."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise UserError("node and npm: not found; install Node.js (with npm) to run MediaPipe Tasks for the web")
    work.mkdir(parents=True, exist_ok=True)
    installed = work / ".installed"
    if not installed.is_file() or installed.read_text() != " ".join(NPM_PACKAGES):
        if not (work / "package.json").is_file():
            (work / "package.json").write_text('{"name": "kerasuite-web-check", "private": true, "type": "module"}\n')
        run = subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", *NPM_PACKAGES],
                             cwd=work, capture_output=True, text=True)
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["no output"])[-1]
            raise UserError(f"npm install {' '.join(NPM_PACKAGES)} failed in {work}: {last}")
        installed.write_text(" ".join(NPM_PACKAGES))
    site = work / "site"
    site.mkdir(exist_ok=True)
    (site / "index.html").write_text(PAGE)
    link = site / "node_modules"
    if not link.exists():
        link.symlink_to(work / "node_modules")
    (work / "driver.mjs").write_text(DRIVER)


def write_inputs(work: Path, kind: str, examples, rate: int) -> None:
    """The page's ``inputs.json``: the examples as the browser hands them to MediaPipe."""
    import numpy as np

    if kind == "image":
        rgba = np.concatenate([examples, np.full(examples.shape[:-1] + (1,), 255, np.uint8)], -1)
        items = [{"width": int(i.shape[1]), "height": int(i.shape[0]), "rgba": i.reshape(-1).tolist()} for i in rgba]
    elif kind == "text":
        items = list(examples)
    else:
        items = [{"samples": clip.astype(np.float32).tolist(), "rate": rate} for clip in examples]
    (work / "site" / "inputs.json").write_text(json.dumps({"kind": kind, "items": items}))


def web_scores(work: Path, chromium: str, model: Path, count: int) -> "np.ndarray":
    """``[count, classes]`` scores of ``model`` in the browser on the page's inputs."""
    import numpy as np

    site = work / "site"
    shutil.copyfile(model, site / "model.tflite")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = socketserver.TCPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/index.html"
        run = subprocess.run(["node", "driver.mjs", url, chromium], cwd=work, capture_output=True, text=True,
                             timeout=300)
    except subprocess.TimeoutExpired:
        raise RuntimeError("the browser run did not finish in 300 s") from None
    finally:
        server.shutdown()
        server.server_close()
    if run.returncode != 0 or not run.stdout.strip():
        last = (run.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the browser run failed: {last}")
    try:
        result = json.loads(run.stdout.strip().splitlines()[-1])
    except json.JSONDecodeError:
        raise RuntimeError(f"the browser run printed no result: {run.stdout.strip()[-200:]}") from None
    if not result["ok"]:
        raise RuntimeError(f"MediaPipe Tasks (web): {result['error']}")
    scores = np.zeros((count, max(len(row) for row in result["scores"])), np.float64)
    for row, categories in enumerate(result["scores"]):
        for index, score in categories:
            scores[row, index] = score
    return scores


def golden_texts(bundle: Path, preprocessing: dict, token_ids) -> tuple[list[str], "np.ndarray"]:
    """Raw strings for a text bundle's golden rows (their words, joined; padding and OOV ids
    dropped) and the ids the bundle's own tokenizer gives them, which the Interpreter reads."""
    from kerasuite.runtime.text import tokenizer_from_preprocessing

    try:
        tokenizer = tokenizer_from_preprocessing(preprocessing, bundle)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{bundle / 'signature.json'}: no usable text preprocessing ({error})") from None
    texts = [" ".join(tokenizer.vocabulary[int(i)] for i in row if int(i) > 1) for row in token_ids]
    return texts, tokenizer.encode_batch(texts)


def read_preprocessing(bundle: Path) -> dict:
    try:
        preprocessing = json.loads((bundle / "signature.json").read_text(encoding="utf-8"))["preprocessing"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise UserError(f"{bundle / 'signature.json'}: not a bundle's signature ({type(error).__name__}: "
                       f"{str(error)[:120]})") from None
    if not isinstance(preprocessing, dict):
        raise UserError(f"{bundle / 'signature.json'}: preprocessing is not an object")
    return preprocessing


def check_bundle(bundle: Path, modes: list[str] | None, work: Path, chromium: str, tolerance: float) -> dict:
    import numpy as np

    from kerasuite.runtime.interpreter import TFLiteModel

    golden_path = bundle / "golden.npz"
    if not golden_path.is_file():
        raise UserError(f"{bundle}: no golden.npz; pass an image, keyword or text classifier's bundle folder")
    try:
        with np.load(golden_path, allow_pickle=False) as archive:
            golden = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise UserError(f"{golden_path}: not a readable .npz ({type(error).__name__})") from None
    names = [name for name in golden if name.startswith("input__")]
    shape = golden[names[0]].shape if len(names) == 1 else ()
    if len(shape) == 4:
        kind = "image"
        examples = np.clip(np.round(golden[names[0]] * 255.0), 0, 255).astype(np.uint8)
        if examples.shape[-1] == 1:
            examples = np.repeat(examples, 3, -1)  # MediaPipe hands the model RGB; the model converts inside
        reference_input = examples.astype(np.float32) / 255.0
    elif len(shape) == 2 and names[0] == "input__waveform":
        kind = "audio"
        examples = reference_input = golden[names[0]].astype(np.float32)
    elif len(shape) == 2 and golden[names[0]].dtype.kind == "i" and (bundle / "vocab.txt").is_file():
        kind = "text"
        examples, reference_input = golden_texts(bundle, read_preprocessing(bundle), golden[names[0]])
    else:
        raise UserError(f"{golden_path}: not an image, keyword or word-id text classifier's golden file "
                       "(one [n, h, w, c] image, [n, samples] waveform or [n, length] token-id input "
                       "with vocab.txt expected)")
    rate = 0
    if kind == "audio":
        try:
            rate = int(read_preprocessing(bundle)["sample_rate"])
        except (ValueError, KeyError, TypeError):
            raise UserError(f"{bundle / 'signature.json'}: no preprocessing.sample_rate for the audio input") from None
    present = [mode for mode in WEB_MODES if (bundle / f"model_{mode}.tflite").is_file()]
    modes = modes or present
    missing = [mode for mode in modes if mode not in present]
    if missing:
        raise UserError(f"--modes {','.join(missing)}: no such file in {bundle} (it has {', '.join(present) or 'none'})")
    references = {}  # before npm or a browser: a file LiteRT cannot load is refused first
    for mode in modes:
        reference_model = TFLiteModel(bundle / f"model_{mode}.tflite")
        references[mode] = reference_model.predict({reference_model.input_names[0]: reference_input})
    prepare_work(work)
    write_inputs(work, kind, examples, rate)
    verdicts = {}
    for mode, reference in references.items():
        try:
            web = web_scores(work, chromium, bundle / f"model_{mode}.tflite", len(examples))
        except RuntimeError as error:
            verdicts[mode] = {"passed": False, "failure": str(error)}
            continue
        diff = float(np.max(np.abs(web[:, : reference.shape[1]] - reference)))
        agreement = float(np.mean(web.argmax(1) == reference.argmax(1)))
        verdicts[mode] = {"passed": diff <= tolerance and agreement == 1.0, "examples": int(len(examples)),
                          "max_abs_diff_vs_interpreter": diff, "top1_agreement": agreement}
    return verdicts


def main(argv=None) -> int:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--modes", default="", help="comma-separated (default: every web-runnable file present)")
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "kerasuite-web",
                        help="where the npm packages and the page live")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "",
                        help="Chromium executable")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest score difference from the Interpreter")
    parser.add_argument("--json", type=Path, help="also write the verdicts here")
    args = parser.parse_args(argv)
    try:
        if not args.chromium or not Path(args.chromium).exists():
            raise UserError("--chromium: no Chromium found; install it (Debian: apt-get install chromium) or pass its path")
        if not args.tolerance > 0:
            raise UserError(f"--tolerance {args.tolerance}: must be above 0")
        if not args.bundle.is_dir():
            raise UserError(f"{args.bundle}: not a bundle folder")
        verdicts = check_bundle(args.bundle, [m for m in args.modes.split(",") if m], args.work, args.chromium,
                                args.tolerance)
    except UserError as error:  # bad flags or bundle files, a file LiteRT cannot load: one line
        print(f"error: {error}", file=sys.stderr)
        return 2
    for mode, verdict in verdicts.items():
        if "failure" in verdict:
            print(f"{mode:<14} FAILED  {verdict['failure']}")
        else:
            print(f"{mode:<14} {'passed' if verdict['passed'] else 'FAILED':<7} {verdict['examples']} examples, "
                  f"max |web - Interpreter| {verdict['max_abs_diff_vs_interpreter']:.3g}, "
                  f"top-1 agreement {verdict['top1_agreement']:.3f}")
    if args.json:
        write_json_atomic(args.json, verdicts)
    return 0 if all(verdict["passed"] for verdict in verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
