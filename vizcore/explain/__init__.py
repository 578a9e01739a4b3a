"""Explaining predictions: which pixels decide the class? One module per method, captum-style.

Every method takes the model, a batch ``x`` (N, C, H, W) normalised as the model expects and the
``target`` class (an int or one index per image), returns plain tensors, and leaves the shared
model exactly as it found it (no hooks, no flags): many students' sessions use it at once.
"""
from ._base import ExplainError, as_targets, check_input, layer_names, run_layers
from .gradient import gradient, input_x_gradient
from .smoothgrad import smoothgrad
from .integrated_gradients import integrated_gradients, path_weights
from .guided_backprop import guided_backprop
from .grad_cam import grad_cam, map_layers
from .heatmap import REDUCTIONS, clip_value, heatmap
from .sanity import SanityCheck, cascading_randomization, parameter_layers, spearman
from ._forward import Plan, Stopped, plan_for, probabilities
from .occlusion import OcclusionRun, Windows, occlusion, occlusion_run, occlusion_scores, windows
from .segment import segment
from .lime import LimeResult, Stability, all_masks, explanation_mask, jaccard, lime, stability
from .scores import (REFERENCES, auc, blur, centre_prior, deletion_curve, edge_maps, insertion_curve,
                     pointing_game, random_maps, reference_maps, relevance_mass, relevance_rank,
                     scaled_tolerance)
