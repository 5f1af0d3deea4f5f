"""Every registered method against every hazard an adversarial user finds: threads, nested calls, every
ReLU spelling, models that write their input, lazy, compiled, exported and scripted models, bad inputs,
and models that do odd things to their own state.

Registry-driven: a method registered in :mod:`revelio.registry` is tried against every hazard with no
edit here. Each case compares the method's maps on the hazardous model (or call) with its maps on a
clean, equivalent model, or checks that the refusal is the typed error that says what to do, raised
before any forward pass. The terminal summary reports the cases tried and held.
"""

from __future__ import annotations

import copy
import threading
import time
import warnings
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from attribution_nets import RELU_FORMS
from method_registry import FAST_OPTIONS, REGISTERED
from torch import Tensor, nn

from revelio.errors import (
    InputError,
    LayerNotReachedError,
    ModelStateError,
    NonFiniteError,
    NotDifferentiableError,
    OptionError,
    TargetError,
    UnsupportedModelError,
)

LAYER = "conv2"
CLASSES = [1, 3]


class Net(nn.Module):
    """conv ``features`` -> ReLU -> conv ``conv2`` -> ReLU -> GAP -> linear, ReLU called as ``relu``; float64."""

    def __init__(
        self, relu: str = "nn.ReLU", prepare: Callable[[Tensor], Tensor] | None = None, pause: float = 0.0
    ) -> None:
        super().__init__()
        self.pause = pause  # seconds each forward pass sleeps: lets another thread run in the middle of a call
        self.features = nn.Conv2d(3, 6, 3, padding=1)
        self.conv2 = nn.Conv2d(6, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)
        self.relu_form = relu
        self.relu = nn.ReLU()
        self.relu_inplace = nn.ReLU(inplace=True)
        self.prepare = prepare
        self.forward_calls = 0

    def forward(self, x: Tensor) -> Tensor:
        self.forward_calls += 1
        if self.pause:
            time.sleep(self.pause)
        if self.prepare is not None:
            x = self.prepare(x)
        activation = RELU_FORMS[self.relu_form]
        x = activation(self, self.features(x))
        x = activation(self, self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


def net(relu: str = "nn.ReLU", prepare: Callable[[Tensor], Tensor] | None = None, seed: int = 0,
        pause: float = 0.0) -> Net:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return Net(relu, prepare, pause).double().eval()


def inputs(n: int = 2, seed: int = 1) -> Tensor:
    return torch.randn(n, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def build(name: str, model: nn.Module):
    return REGISTERED[name].create(model, LAYER)


def options(name: str) -> dict:
    return {**REGISTERED[name].defaults, **FAST_OPTIONS.get(name, {})}


def attribute(name: str, model: nn.Module, x: Tensor, target=CLASSES) -> Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "called no ReLU" on purpose-built nets
        return build(name, model).attribute(x, target, **options(name))


def close(actual: Tensor, expected: Tensor) -> None:
    scale = max(float(expected.abs().max()), 1e-30)
    torch.testing.assert_close(actual, expected, rtol=1e-7, atol=1e-9 * scale)


def state(model: nn.Module) -> dict:
    return {
        "training": [m.training for m in model.modules()],
        "requires_grad": [p.requires_grad for p in model.parameters()],
        "grad": [p.grad for p in model.parameters()],
        "hooks": sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()),
    }


# -- the hazards ------------------------------------------------------------------------------------------------


def threads_on_one_model(name: str) -> None:
    """Two threads explain one model (in train mode, with a user's .grad) at once: results and state as alone."""
    model = net(pause=0.002)
    model.train()
    model.fc.weight.grad = torch.ones_like(model.fc.weight)
    before = state(model)
    x = inputs()
    expected = attribute(name, net(), x)
    results, errors = [], []
    start = threading.Barrier(2)

    def work() -> None:
        try:
            start.wait()
            for _ in range(3):
                results.append(attribute(name, model, x))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for result in results:
        close(result, expected)
    assert state(model) == before


def a_plain_forward_in_another_thread(name: str) -> None:
    """A thread runs plain forward and backward passes on the model during the calls: neither disturbs the other."""
    model = net(pause=0.002)
    x = inputs()
    expected = attribute(name, net(), x)
    leaf = inputs(1, seed=7).requires_grad_(True)
    (plain,) = torch.autograd.grad(net()(leaf)[0, 2], leaf)
    stop, seen, errors = threading.Event(), [], []

    def user() -> None:
        try:
            while not stop.is_set():
                probe = leaf.detach().clone().requires_grad_(True)
                (grad,) = torch.autograd.grad(model(probe)[0, 2], probe)
                seen.append(grad)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    thread = threading.Thread(target=user)
    thread.start()
    try:
        results = [attribute(name, model, x) for _ in range(3)]
    finally:
        stop.set()
        thread.join()
    assert not errors, errors
    for result in results:
        close(result, expected)
    for grad in seen:  # the user's gradient is the plain one: no revelio rule reached it
        close(grad, plain)


def a_hook_added_by_another_thread(name: str) -> None:
    """A hook registered from another thread during a call stays registered and runs."""
    model = net(pause=0.01)
    x = inputs()
    fired, handles = [], []
    started = threading.Event()

    def user() -> None:
        started.wait()
        time.sleep(0.003)  # inside the call's first forward pass
        handles.append(model.conv2.register_forward_hook(lambda *args: fired.append(1)))

    thread = threading.Thread(target=user)
    thread.start()
    started.set()
    attribute(name, model, x)
    thread.join()
    assert len(model.conv2._forward_hooks) == 1
    with torch.no_grad():
        model(x)
    assert fired
    handles[0].remove()


def different_models_in_parallel(name: str) -> None:
    """Calls on two different models in two threads each give their own model's maps."""
    models, x = [net(seed=0), net(seed=1)], inputs()
    expected = [attribute(name, net(seed=0), x), attribute(name, net(seed=1), x)]
    results: dict[int, Tensor] = {}

    def work(index: int) -> None:
        results[index] = attribute(name, models[index], x)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for index in range(2):
        close(results[index], expected[index])


class Nesting(nn.Module):
    """A model whose forward explains its own inner part with another revelio call (saliency), then goes on."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = net(relu="F.relu")
        self.nested: list[tuple[Tensor, Tensor]] = []  # (the inputs of a forward pass, the nested call's maps)

    def forward(self, x: Tensor) -> Tensor:
        from revelio import Saliency

        seen = x.detach().clone()
        self.nested.append((seen, Saliency(self.inner).attribute(seen, 0, abs=False)))
        return self.inner(x)


def a_nested_call(name: str) -> None:
    """The model's forward runs another revelio call: each call's rules and hooks act on its own passes only."""
    from revelio import Saliency

    model, x = Nesting(), inputs()
    clean = net(relu="F.relu")
    result = REGISTERED[name].create(model, "inner.conv2").attribute(x, CLASSES, **options(name))
    expected = REGISTERED[name].create(clean, LAYER).attribute(x, CLASSES, **options(name))
    close(result, expected)
    for seen, maps in model.nested:  # every forward pass of the outer call ran a correct nested call
        close(maps, Saliency(clean).attribute(seen, 0, abs=False))


def relu_spelling(form: str) -> Callable[[str], None]:
    def check(name: str) -> None:
        """A model that calls ReLU this way gets the maps of the same model calling nn.ReLU."""
        x = inputs()
        close(attribute(name, net(relu=form), x), attribute(name, net(), x))

    check.__doc__ = f"ReLU as {form}: the maps of the same model with nn.ReLU"
    return check


def input_written_in_place(prepare: Callable[[Tensor], Tensor], clean: Callable[[Tensor], Tensor]):
    def check(name: str) -> None:
        """A model that writes its input in place: the maps of its out-of-place twin, the caller's tensor untouched."""
        x = inputs()
        kept = x.clone()
        result = attribute(name, net(prepare=prepare), x)
        assert torch.equal(x, kept), "the caller's inputs were written"
        close(result, attribute(name, net(prepare=clean), x))

    return check


def lazy_modules(name: str) -> None:
    """Uninitialised lazy modules are refused with a typed error that says to run one forward pass first."""
    model = nn.Sequential(nn.LazyConv2d(6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(4)).double()
    with pytest.raises(UnsupportedModelError, match="run one forward pass"):
        REGISTERED[name].create(model, "2").attribute(inputs(), CLASSES, **options(name))
    assert isinstance(model[0].weight, nn.parameter.UninitializedParameter)
    model(inputs())  # once initialised, it is an ordinary model
    REGISTERED[name].create(model, "2").attribute(inputs(), CLASSES, **options(name))


def compiled_model(name: str) -> None:
    """A torch.compile'd model is explained through its original module: the eager maps, every method in turn."""
    eager = net()
    compiled = torch.compile(eager, backend="eager")
    x = inputs()
    compiled(x)  # compiled once before revelio sees it
    expected = attribute(name, net(), x)
    for _ in range(2):
        close(attribute(name, compiled, x), expected)
        attribute("guided-backprop", compiled, x)  # another method on the same compiled model in between


def exported_model(name: str) -> None:
    """A torch.export module (batch dimension dynamic): input methods give the eager maps; layer methods are refused."""
    x = inputs()
    batch = {0: torch.export.Dim("batch", min=1)}
    exported = torch.export.export(net(), (x,), dynamic_shapes=(batch,)).module()
    if REGISTERED[name].needs_layer:
        with pytest.raises(UnsupportedModelError, match="torch.export graph"):
            build(name, exported)
        return
    close(attribute(name, exported, x), attribute(name, net(), x))


def exported_with_fixed_shapes(name: str) -> None:
    """Exported for batch 2 only: a method that runs other batch sizes says how to export instead of a raw guard."""
    if REGISTERED[name].needs_layer:
        return
    x = inputs()
    exported = torch.export.export(net(), (x,)).module()
    try:
        result = attribute(name, exported, x)
    except UnsupportedModelError as error:
        assert "dynamic batch dimension" in str(error)
    else:
        close(result, attribute(name, net(), x))


def torchscript(kind: str):
    def check(name: str) -> None:
        """TorchScript models are refused when the method is built, with a typed error that says what to pass."""
        plain = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated
            scripted = torch.jit.script(plain) if kind == "script" else torch.jit.trace(plain, torch.randn(1, 3, 8, 8))
        with pytest.raises(UnsupportedModelError, match="TorchScript"):
            build(name, scripted)

    return check


def refused_before_work(make_inputs: Callable[[], Tensor], error: type[Exception], match: str, target=CLASSES,
                        extra: dict | None = None):
    def check(name: str) -> None:
        """A bad input gets its typed error, which says what to do, before any forward pass."""
        model = net()
        x = make_inputs()
        with pytest.raises(error, match=match):
            build(name, model).attribute(x, target, **options(name), **(extra or {}))
        assert model.forward_calls == 0

    return check


def with_nan(x: Tensor, example: int) -> Tensor:
    x[example, 0, 0, 0] = float("nan")
    return x


def wrong_input_shape(make_inputs: Callable[[], Tensor], match: str):
    def check(name: str) -> None:
        """Inputs the model cannot take: an InputError that names their shape and what the first layer takes."""
        with pytest.raises(InputError, match=match):
            build(name, net()).attribute(make_inputs(), CLASSES, **options(name))

    return check


def not_bool_option(name: str) -> None:
    """A bool option given another value ("no", 0) is refused, before any work."""
    bools = [key for key, value in build(name, net()).options().items() if isinstance(value, bool)]
    for key in bools:
        for value in ("no", 0):
            model = net()
            with pytest.raises(OptionError, match=f"option {key!r} takes a bool"):
                build(name, model).attribute(inputs(), CLASSES, **{**options(name), key: value})
            assert model.forward_calls == 0


class DetachedTrunk(nn.Module):
    """The features run under torch.no_grad(): the scores do not depend on the input differentiably."""

    def __init__(self) -> None:
        super().__init__()
        self.body = net()
        self.conv2 = self.body.conv2

    def forward(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            x = F.relu(self.body.features(x))
        x = F.relu(self.body.conv2(x))
        return self.body.fc(x.mean(dim=(2, 3)))


def scores_without_the_input(name: str) -> None:
    """Scores that do not depend on the input: a typed error, or (perturbation methods) all-zero maps."""
    if REGISTERED[name].map_kind == "cam":
        return  # a CAM reads a layer: a trunk before it may well be frozen
    for model, target in ((DetachedTrunk(), CLASSES), (net(), lambda out: torch.ones(out.shape[0], dtype=out.dtype))):
        try:
            maps = REGISTERED[name].create(model, LAYER).attribute(inputs(), target, **options(name))
        except (NotDifferentiableError, LayerNotReachedError) as error:
            assert "do not depend on" in str(error)
        else:
            if isinstance(model, DetachedTrunk):  # a forward-only method reads the scores, not their gradients
                close(maps, attribute(name, net(), inputs()))
            else:
                assert not maps.any(), "a map of scores that ignore the input must be zero"


class SelfHooking(nn.Module):
    """A model whose own forward hook registers a second hook the first time it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.body = net()
        self.conv2 = self.body.conv2
        self.added: list = []
        self.body.features.register_forward_hook(self._first_call)

    def _first_call(self, *args) -> None:
        if not self.added:
            self.added.append(self.body.fc.register_forward_hook(lambda *a: None))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def a_hook_the_model_adds(name: str) -> None:
    """A hook the model's own hook registers during a call is the model's: it stays."""
    model = SelfHooking()
    attribute(name, model, inputs())
    assert model.added and len(model.body.fc._forward_hooks) == 1


class ModeAware(Net):
    """A model whose train() override sets more than the training flags."""

    def __init__(self) -> None:
        super().__init__()
        self.double()
        self.mode_name = "train"

    def train(self, mode: bool = True):
        self.mode_name = "train" if mode else "eval"
        return super().train(mode)


def a_train_override(name: str) -> None:
    """The model's own train() is called back with the mode it had: what it sets besides the flags is restored."""
    model = ModeAware()
    model.train()
    attribute(name, model, inputs())
    assert model.mode_name == "train" and model.training


class SelfEditing(Net):
    """A model whose forward doubles one of its weights through .data, which autograd does not see."""

    def forward(self, x: Tensor) -> Tensor:
        self.fc.weight.data.mul_(2.0)
        return super().forward(x)


def a_write_through_data(name: str) -> None:
    """A forward pass that writes a parameter through .data is reported (ModelStateError), as the docs promise."""
    model = SelfEditing().double()
    with pytest.raises(ModelStateError, match="modified in place"):
        attribute(name, model, inputs())


HAZARDS: dict[str, Callable[[str], None]] = {
    "threads on one model": threads_on_one_model,
    "a plain forward in another thread": a_plain_forward_in_another_thread,
    "a hook added by another thread": a_hook_added_by_another_thread,
    "different models in parallel": different_models_in_parallel,
    "a nested revelio call": a_nested_call,
    **{f"ReLU as {form}": relu_spelling(form) for form in RELU_FORMS if form != "nn.ReLU"},
    "input written by x.sub_": input_written_in_place(lambda x: x.sub_(0.5), lambda x: x - 0.5),
    "input written by F.relu(inplace)": input_written_in_place(lambda x: F.relu(x, inplace=True), F.relu),
    "lazy modules": lazy_modules,
    "torch.compile": compiled_model,
    "torch.export": exported_model,
    "torch.export, fixed shapes": exported_with_fixed_shapes,
    "torch.jit.script": torchscript("script"),
    "torch.jit.trace": torchscript("trace"),
    "inputs in another dtype": refused_before_work(lambda: inputs().float(), InputError, "inputs are torch.float32"),
    "NaN in the inputs": refused_before_work(lambda: with_nan(inputs(), example=1), NonFiniteError, r"examples \[1\]"),
    "infinity in the inputs": refused_before_work(lambda: inputs() / 0.0, NonFiniteError, "NaN or infinite"),
    "a target of 2**63": refused_before_work(inputs, TargetError, "64-bit", target=[2**63, 1]),
    "3-d inputs": wrong_input_shape(lambda: inputs()[:, 0], r"3 dimensions.*\(N, 3, H, W\)|need inputs \(N, C, H, W\)"),
    "5-d inputs": wrong_input_shape(lambda: inputs()[:, :, None], r"5 dimensions|need inputs \(N, C, H, W\)"),
    "wrong channel count": wrong_input_shape(lambda: torch.randn(2, 4, 8, 8, dtype=torch.float64), "4 channels.*takes 3"),
    "a bool option given a string": not_bool_option,
    "scores that ignore the input": scores_without_the_input,
    "a hook the model adds": a_hook_the_model_adds,
    "a train() override": a_train_override,
    "a weight written through .data": a_write_through_data,
}


@pytest.mark.parametrize("hazard", list(HAZARDS))
@pytest.mark.parametrize("method", list(REGISTERED))
def test_hazard(method: str, hazard: str) -> None:
    HAZARDS[hazard](method)
