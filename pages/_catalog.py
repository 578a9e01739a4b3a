"""Which pages the app has, where they sit in the navigation, and what each teaches.

Only pages that work are listed: app.py registers exactly these, and the home page links them,
each on a card with its picture and its short line (the whole ``teaches`` in the link's help).
"""
from typing import NamedTuple


class PageInfo(NamedTuple):
    path: str
    title: str
    section: str
    teaches: str
    short: str  # the home card's line under the page's picture: two lines of a quarter of the page


PAGES = [
    PageInfo(
        "pages/kernel_playground.py", "Kernel playground", "Convolution basics",
        "Slide a kernel over a photo or a small number matrix: presets (blur, Sobel, Gabor...), "
        "stride, padding, dilation, colour kernels, and the arithmetic of every output cell.",
        "Slide a kernel over a photo: edges appear.",
    ),
    PageInfo(
        "pages/shape_calculator.py", "Shape calculator", "Convolution basics",
        "Output shape and parameter count of one layer with the formula filled in, which "
        "padding/stride give a wanted size, and whole stacks (LeNet-5, AlexNet, VGG) layer by layer.",
        "Output shapes and parameters, layer by layer.",
    ),
    PageInfo(
        "pages/pooling.py", "Pooling", "Convolution basics",
        "Max and average pooling on a number matrix or a photo: where each output comes from, "
        "why pooling has no parameters, translation invariance and the growing receptive field.",
        "Keep the strongest value of each window.",
    ),
    PageInfo(
        "pages/quiz.py", "Shape quiz", "Convolution basics",
        "Generated questions on output shapes, parameters, padding and receptive fields, with "
        "hints and worked solutions; a quiz code gives a whole class the same questions.",
        "Practise sizes, parameters, receptive fields.",
    ),
    PageInfo(
        "pages/training.py", "Training", "Inside a CNN",
        "Train a small CNN on the server: live loss and accuracy curves, augmentation previews, "
        "overfitting on small data with and without augmentation, the confusion matrix and mistakes.",
        "Train a CNN live; see what it gets wrong.",
    ),
    PageInfo(
        "pages/feature_maps.py", "Feature maps", "Inside a CNN",
        "See inside a trained CNN layer by layer: every channel's map for your image or drawing, "
        "the filters, receptive fields, the arithmetic of one value and the patches a channel likes.",
        "Every channel of a CNN, for your picture.",
    ),
    PageInfo(
        "pages/transfer_learning.py", "Transfer learning", "Inside a CNN",
        "Ten pictures per class: an ImageNet network's frozen features + logistic regression, fine-tuning its "
        "last blocks, and a small CNN from scratch side by side; the accuracy-vs-k curve, the deck's 2×2 table, "
        "the features map, and your own zip or webcam pictures.",
        "Ten pictures a class: reuse an ImageNet CNN.",
    ),
    PageInfo(
        "pages/architectures.py", "Architectures", "Inside a CNN",
        "Why modern CNNs look the way they do: LeNet-5 to ResNet-152 counted side by side, small stacked "
        "filters, the 1×1 convolution, an inception module builder, and plain against residual networks trained live.",
        "LeNet-5 to ResNet-152, counted side by side.",
    ),
    PageInfo(
        "pages/saliency.py", "Saliency", "Explaining predictions",
        "Which pixels decide the class? Gradient, gradient × input, SmoothGrad, Integrated Gradients, "
        "guided backprop and Grad-CAM side by side for any class, and the sanity check that randomises the model.",
        "Which pixels decide the class?",
    ),
    PageInfo(
        "pages/occlusion.py", "Occlusion", "Explaining predictions",
        "Slide a patch over the image and watch the class probability fall: the map of where the model "
        "looked, per patch position and per pixel, and the patch moving step by step.",
        "Hide a patch, watch the probability fall.",
    ),
    PageInfo(
        "pages/lime.py", "LIME", "Explaining predictions",
        "LIME step by step: superpixels, perturbed samples with their probabilities and weights, the "
        "surrogate's coefficients and R², and how much runs with other seeds agree.",
        "Which superpixels raise the class?",
    ),
    PageInfo(
        "pages/explanation_scores.py", "Explanation scores", "Explaining predictions",
        "Which explanation is right? Every method scored against where the object really is, beside a "
        "random map, a centre blob and an edge detector; and a model that cheats with a corner tag.",
        "Score the explanations; catch a cheat.",
    ),
]

PAGES.append(PageInfo(
    "pages/live_class.py", "Live class", "",
    "The hall follows the lecturer's page and answers questions on their phones: a join code and QR code, "
    "generated shape questions, a live count, and the answers' histogram with the slip behind each wrong one.",
    "The hall answers on their phones.",
))

SECTION_ORDER = ["Convolution basics", "Inside a CNN", "Explaining predictions"]  # "" : beside Home
