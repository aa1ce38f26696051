"""kerasuite: applied Keras 3 models that train on TensorFlow and ship as TFLite/LiteRT.

Importing the package is cheap and imports no TensorFlow: the edge runner (``kerasuite.edge``)
and ``--help`` depend on that.
"""

__version__ = "0.1.0"
