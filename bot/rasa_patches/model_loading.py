"""Neural models loaded for answering only: 730 MB instead of 1.33 GB, ready 10 s sooner.

- TensorFlow 2.12 imports JAX whenever it is installed (TensorFlow requires it), only for
  TFLite, which fanzha never uses: 120 MB and half a second at start.
- oneDNN's graph rewrites cost 100 MB and made no turn faster on 2 cores; TensorFlow runs
  its small graphs on one thread.
- Rasa builds each neural model it loads (DIET, ResponseSelector, TED) by *training* it on
  one example: that traces the whole training graph and creates the optimiser's state, two
  more copies of every weight, all kept for the life of the server. Here the layers are
  built by one forward pass instead; then the trained weights are loaded as Rasa loads them,
  and every weight of the model must be found in the file (the optimiser's are skipped).
- The prediction graph is traced without AutoGraph: Rasa's predict steps branch only on
  Python values, so AutoGraph's rewriting of some 220 functions into graph code (3 s of every
  start) changes nothing in the graph; a branch on a tensor would stop the load with an error
  instead. tests/test_patch_parity.py shows the answers are Rasa's own.

Training, evaluation (``rasa train``, ``rasa test``) and fine-tuning keep Rasa's own loader.
"""
from __future__ import annotations

import os
import sys
from typing import Any


def lighter_tensorflow() -> None:
    """Before TensorFlow is first imported (process-wide: no uninstall can take it back)."""
    sys.modules["jax"] = None  # type: ignore[assignment]  # "import jax" raises ImportError; TF copes
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    # One thread per TensorFlow pool (Rasa reads these): the models are small, and thread pools
    # spread over cores that the action server also needs made every other run's p95 50% worse.
    os.environ.setdefault("TF_INTER_OP_PARALLELISM_THREADS", "1")
    os.environ.setdefault("TF_INTRA_OP_PARALLELISM_THREADS", "1")


def load_for_serving(
    cls: type,
    model_file_name: str,
    model_data_example: Any,
    predict_data_example: Any = None,
    finetune_mode: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """RasaModel.load for predicting only (the same signature)."""
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    if finetune_mode:
        return _rasa_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs)
    model = cls(*args, **kwargs)
    batch_in, _ = RasaBatchDataGenerator(model_data_example, batch_size=1)[0]
    model.batch_loss(batch_in)  # creates every layer's weights, as Rasa's one training step does
    status = model.load_weights(model_file_name)
    status.assert_existing_objects_matched()  # each weight of the model came from the file
    status.expect_partial()  # the optimiser's saved state is not needed for answering
    if predict_data_example:
        import tensorflow as tf

        model.predict_step = tf.autograph.experimental.do_not_convert(model.predict_step)
        model.run_inference(predict_data_example)  # traces the prediction graph before the first user
    return model


_rasa_load: Any = None


def install() -> None:
    """Use load_for_serving for every neural model this process loads from now on."""
    global _rasa_load
    lighter_tensorflow()
    from rasa.utils.tensorflow.models import RasaModel

    if _rasa_load is None:
        _rasa_load = RasaModel.load.__func__  # type: ignore[attr-defined]
    RasaModel.load = classmethod(load_for_serving)  # type: ignore[method-assign, assignment]


def uninstall() -> None:
    from rasa.utils.tensorflow.models import RasaModel

    if _rasa_load is not None:
        RasaModel.load = classmethod(_rasa_load)  # type: ignore[method-assign, assignment]
