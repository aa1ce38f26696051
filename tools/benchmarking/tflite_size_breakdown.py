"""Where the bytes of a .tflite file go: weights, quantization parameters, names, structure.

    python tools/benchmarking/tflite_size_breakdown.py exports/RUN/model_float32.tflite exports/RUN/model_int8.tflite

Explains int8 size ratios above 0.25x: int8 weights are a quarter of float32 ones (int32 biases
stay the same size), but per-channel quantization stores a float32 scale and an int64 zero point
for every output channel of every conv and bias tensor, and the graph structure and tensor names
do not shrink. Since ``export.compact`` kerasuite's files keep only the input, output and
signature tensor names; ``export.int8_weights=per_tensor`` stores one scale and zero point per
weight tensor (``speech_size_before_after.py`` measures both). Reads the flatbuffer with the
schema shipped in ai-edge-litert (no TensorFlow).
"""

from __future__ import annotations

from pathlib import Path


def breakdown(path: Path) -> dict[str, int]:
    from ai_edge_litert import schema_py_generated as schema

    content = path.read_bytes()
    model = schema.Model.GetRootAsModel(content, 0)
    sizes = {"file": len(content), "buffers": 0, "scales": 0, "zero_points": 0, "names": 0, "tensors": 0}
    sizes["buffers"] = sum(model.Buffers(i).DataLength() for i in range(model.BuffersLength()))
    for g in range(model.SubgraphsLength()):
        graph = model.Subgraphs(g)
        sizes["tensors"] += graph.TensorsLength()
        for i in range(graph.TensorsLength()):
            tensor = graph.Tensors(i)
            sizes["names"] += len(tensor.Name() or b"")
            quantization = tensor.Quantization()
            if quantization is not None:
                sizes["scales"] += 4 * quantization.ScaleLength()  # float32 each
                sizes["zero_points"] += 8 * quantization.ZeroPointLength()  # int64 each
    sizes["structure"] = sizes["file"] - sizes["buffers"] - sizes["scales"] - sizes["zero_points"] - sizes["names"]
    return sizes


def main() -> None:
    from kerasuite.argparsing import OneLineArgumentParser

    parser = OneLineArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    rows = {path: breakdown(path) for path in args.files}
    first = next(iter(rows.values()))
    print(f"{'file':<40} {'bytes':>9} {'vs first':>9} {'weights':>9} {'scales':>8} {'zero pts':>9} {'names':>7} {'structure':>10}")
    for path, row in rows.items():
        print(f"{str(path)[-40:]:<40} {row['file']:>9,} {row['file'] / first['file']:>8.2f}x {row['buffers']:>9,} "
              f"{row['scales']:>8,} {row['zero_points']:>9,} {row['names']:>7,} {row['structure']:>10,}")


if __name__ == "__main__":
    main()
