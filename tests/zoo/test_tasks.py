import pytest
import torch

from revelio.errors import ModelNotFoundError
from revelio.zoo import load
from revelio.zoo.tasks import DEFAULT_TASK, TASKS, get_task
from revelio.zoo.train import TEST_SEED


@pytest.mark.parametrize("name", list(TASKS))
def test_every_task_gives_labelled_objects_with_masks_and_a_model_that_reads_them(name):
    task = get_task(name)
    batch = task.make_batch(4, seed=task.test_seed, start=3)
    n, k = batch.classes.shape
    assert n == 4 and k >= 2 and batch.masks.shape[:2] == (4, k) and batch.masks.dtype == torch.bool
    assert batch.images.shape[0] == 4 and 0 <= float(batch.images.min()) and float(batch.images.max()) <= 1
    for row in range(n):
        assert len(set(batch.classes[row].tolist())) == k  # the labelled objects' classes differ
        assert batch.labels[row].nonzero().flatten().tolist() == sorted(batch.classes[row].tolist())
    assert batch.masks.flatten(2).any(-1).all()  # every labelled object is visible
    model = load(task.model)
    assert model.class_names == task.class_names
    assert torch.equal(task.make_batch(4, seed=task.test_seed, start=3).images, batch.images)


def test_the_shapes_task_holds_out_the_training_test_seed():
    assert get_task(DEFAULT_TASK).test_seed == TEST_SEED


def test_an_unknown_task_names_the_known_ones():
    with pytest.raises(ModelNotFoundError, match="did you mean 'shapes'"):
        get_task("shape")
