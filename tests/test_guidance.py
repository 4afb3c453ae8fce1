"""Lesson 5's training machinery on a CPU: a conditional model that starts out as lesson 4's, labelled batches,
fine-tuning from a lesson-4 checkpoint, an exact resume, and where lesson 4's checkpoint is looked for.

A few seconds on a 2-core CPU: the quick-mode model, a handful of steps.
"""
import pytest
import torch

from ddpm_course.data import load_fashion_mnist, make_fixture
from ddpm_course.l4_training import reference as l4
from ddpm_course.l5_guidance import reference as ref

# the quick-mode model, with batches of 1 over 3 images: an epoch is 3 steps
TINY = l4.TrainConfig(**{**l4.QUICK, "batch_size": 1, "epochs": 2, "max_steps": 4, "fixture": True})


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: the tiny model on one thread


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    root = make_fixture(tmp_path_factory.mktemp("fixture"), n_train=3, n_test=2)
    images, labels = load_fashion_mnist("train", root=root, download=False, verify=False)
    return images[:, None], labels


def test_a_conditional_model_loaded_from_lesson_4_predicts_what_lesson_4_predicts_for_every_label():
    """Does a conditional run started from a lesson-4 model's weights predict exactly what that model predicts,
    whatever the label, 'no label' included?"""
    plain = l4.make_model(TINY).eval()
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(0.01 * torch.randn_like(p))
    run = ref.new_conditional_run(TINY, torch.device("cpu"), init=plain.state_dict())
    model = run.model.eval()
    x, t = torch.randn(ref.NUM_CLASSES + 1, 1, 28, 28), torch.arange(ref.NUM_CLASSES + 1) % TINY.timesteps
    with torch.no_grad():
        expected = plain(x, t)
        assert torch.allclose(model(x, t, torch.arange(ref.NUM_CLASSES + 1)), expected, atol=1e-6)
        assert torch.allclose(model(x, t), expected, atol=1e-6)
        assert torch.allclose(run.ema.model(x, t), expected, atol=1e-6)


def test_a_checkpoint_of_another_model_is_refused():
    """Does fine-tuning refuse a state dict that is not lesson 4's U-Net of this config?"""
    other = l4.make_model(TINY._replace(channels=16))
    with pytest.raises((ValueError, RuntimeError)):
        ref.new_conditional_run(TINY, torch.device("cpu"), init=other.state_dict())


def test_labelled_batches_keep_each_image_with_its_label(tiny_data):
    """Are a batch's labels those of its images, and its images lesson 4's batch of the same step?"""
    images, labels = tiny_data
    batches = ref.LabelledBatches(images, labels, batch_size=2, seed=0)
    for step in range(4):
        x, y = batches(step, torch.Generator().manual_seed(step))
        plain = l4.Batches(images, 2, 0)(step, torch.Generator().manual_seed(step))
        assert torch.equal(x, plain)
        picked = batches.order(step // batches.steps_per_epoch)[(step % batches.steps_per_epoch) * 2:][:2]
        assert torch.equal(y, labels[picked])


def test_resume_continues_exactly_where_it_stopped(tiny_data, tmp_path):
    """Do 4 steps straight, and 2 steps, a stop, a resume and 2 more, give bit-identical weights and losses?"""
    images, labels = tiny_data
    schedule = l4.make_schedule(TINY)
    cpu = torch.device("cpu")
    init = l4.make_model(TINY).state_dict()
    straight = ref.train_conditional(TINY, images, labels, schedule, tmp_path / "straight", cpu, init=init,
                                     progress=False)
    torch.manual_seed(123)
    first = ref.train_conditional(TINY._replace(max_steps=2), images, labels, schedule, tmp_path / "split", cpu,
                                  init=init, progress=False)
    assert first.step == 2
    resumed = ref.train_conditional(TINY, images, labels, schedule, tmp_path / "split", cpu, init=init,
                                    progress=False)
    assert resumed.step == straight.step == 4 and resumed.losses == straight.losses
    mine, theirs = resumed.model.state_dict(), straight.model.state_dict()
    assert [k for k in mine if not torch.equal(mine[k], theirs[k])] == []
    assert mine["label_embedding.weight"].abs().sum() > 0  # training reached the label embedding
    assert [group.get("lr_scale", 1.0) for group in resumed.optimizer.param_groups] == [1.0, ref.LABEL_LR_SCALE]


def test_the_label_embedding_learns_at_a_multiple_of_the_learning_rate(tiny_data):
    """Is the label embedding alone in a param group of its own, stepped at LABEL_LR_SCALE times the learning rate
    that every other parameter gets (warm-up included)?"""
    images, labels = tiny_data
    run = ref.new_conditional_run(TINY, torch.device("cpu"))
    ref.conditional_train_step(run, l4.to_model_range(images[:1]), labels[:1], l4.make_schedule(TINY))
    rest, embedding = run.optimizer.param_groups
    assert embedding["params"] == [run.model.label_embedding.weight]
    assert len(rest["params"]) == len(list(run.model.parameters())) - 1
    assert rest["lr"] == l4.lr_at(0, TINY) and embedding["lr"] == pytest.approx(ref.LABEL_LR_SCALE * rest["lr"])


def test_lesson_4s_checkpoint_is_found_beside_this_notebook_or_beside_lesson_4s(tmp_path):
    """Is lesson 4's checkpoint looked for in runs/ here first, then in the sibling lesson folder?"""
    here = tmp_path / "l5_guidance"
    here.mkdir()
    name = f"l4_training-{TINY.name}"
    assert ref.lesson4_checkpoint(TINY, here) == here / "runs" / name / "checkpoint.pt"  # none yet: the first
    sibling = tmp_path / "l4_training" / "runs" / name / "checkpoint.pt"
    sibling.parent.mkdir(parents=True)
    sibling.write_bytes(b"")
    assert ref.lesson4_checkpoint(TINY, here).resolve() == sibling.resolve()
    mine = here / "runs" / name / "checkpoint.pt"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"")
    assert ref.lesson4_checkpoint(TINY, here) == mine


def test_class_accuracy_counts_each_class_apart():
    """Is class_accuracy the share of each class's samples that the classifier calls that class?"""
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):  # predicts the class written in the first pixel: -1, 0, 1 for 0, 1, 2
            return torch.nn.functional.one_hot((x[:, 0, 0, 0] + 1).round().long(), 3).float() + self.w

    predicted = torch.tensor([0, 0, 1, 2, 2, 2])
    labels = torch.tensor([0, 1, 1, 2, 2, 0])
    samples = (predicted.float() - 1).reshape(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    got = ref.class_accuracy(Fixed(), samples, labels, num_classes=3)
    assert got.tolist() == [0.5, 0.5, 1.0]
