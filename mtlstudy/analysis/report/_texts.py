"""The report's prose, kept apart from the code that fills it in.

Each constant is a :meth:`str.format` template; the renderers escape the filled-in
text, so study values in the placeholders cannot inject markup.
"""

from __future__ import annotations

OVERVIEW = (
    "{n_trials} trials ({states}); the analysis uses the {n_analysed} {analysed} ({variants}). "
    "Trade-off, knee, budget and epoch figure use the {value} values."
)
ANALYSED_COMPLETE = "complete ones"
ROLES_REPLICATES = (
    "{n_replicates} of the trials are replicates: trials retrained with a new seed, analysed like any other."
)
ROLES_CALIBRATION = (
    "{n_calibration} calibration trial(s) enter no fit, front, hypervolume or question: they only check the "
    "trade-off's bands."
)
INTERACTIVE_LINK = "Interactive Pareto scatter: hover over a trial for its λ_F, λ_R, shared flag and seed"

PROVENANCE_HEADING = "How this study was made"
PROVENANCE_TABLE = "Provenance"
ANALYSED_WITH_STOPPED = "complete or stopped ones, stopped ones at their last epoch"

PARETO_HEADING = "Pareto front"
PARETO_INTRO = (
    "A trial is on the front when no other complete trial has a test MSE at least as low and a test MRR "
    "at least as high with one of them strictly better; identical points are all on the front. "
    "'final' reads the last epoch, 'best' each metric's best epoch (MSE and MRR may peak at different "
    "epochs, so a 'best' point is not one model state)."
)
PARETO_SIZE = "{value} values: {size} trial(s) on the {scope} front"
PARETO_FIGURE = "Pareto scatter, final and best values"
PARETO_TABLE = "Trials on the overall front ({value} values)"

STOPPING_HEADING = "Early stopping"
STOPPING_INTRO = (
    "Early stopping spent {trial_epochs:,} of {full_epochs:,} trial-epochs ({spent:.0%}); "
    "{stopped} of {trials} trials were stopped. Stopped trials are on no front: the fronts, hypervolumes "
    "and trade-off fits use only the trials that trained every epoch."
)
STOPPING_FIGURE = "Trial-epochs trained per model variant"
STOPPING_FIGURE_RUNGS = ", and trials stopped at each rung"
STOPPING_COMPUTE_TABLE = "Compute per model variant (finished trials: complete or stopped)"
STOPPING_NO_RUNGS = "No rung records were given: no rung decisions to show."
STOPPING_RUNG_TABLE = "Decisions at each rung"
STOPPING_BEHIND = (
    "{behind} of the {n_front} trials on the final front ({value} values) were off a rung's own front "
    "(layer above 1) when they reached it: judged at that epoch alone they looked worse than they ended."
)
STOPPING_PROMOTION_TABLE = (
    "Trials on the final front at each rung: arrival position of the trials that reached the rung, and "
    "non-dominated layer among them (1: on that rung's front)"
)
STOPPING_CELL = "arrived {order} of {reached}, layer {layer}"

HYPERVOLUME_HEADING = "Hypervolume"
HYPERVOLUME_INTRO = (
    "The area dominated by the front and bounded by the reference point (exact 2-D computation); "
    "a study compares with another only against the same reference point."
)
HYPERVOLUME_SENTENCE = (
    "{value} values: hypervolume {hypervolume} of the overall front against the reference point "
    "(test MSE {reference_mse}, test MRR {reference_mrr}; {source})."
)
HYPERVOLUME_TABLE = "Hypervolume per value and scope"
HYPERVOLUME_FIGURE = "Hypervolume after each complete trial, in creation order"

TRADEOFF_HEADING = "Trade-off between rating and ranking"
TRADEOFF_INTRO = (
    "Each objective ({value} values) is fitted per model variant against {x_text}, by a Gaussian process "
    "with a noise term, so that the bands widen where there are no trials (the line is dashed there). "
    "The darker band holds the mean curve with {level:.0%} confidence, the lighter one a new trial at that "
    "weight. The two fits evaluated on one grid trace the MRR-against-MSE curve; the knee and the budget answer "
    "carry the {level:.0%} range of λ_F over joint draws of the two fitted curves."
)
TRADEOFF_FIT = (
    "{variant}, {metric}: {note} ({n_points} trials, {n_distinct} distinct weights, "
    "{replicate_groups} of them run with more than one seed)."
)
TRADEOFF_FIT_MEASURED = (
    "{variant}, {metric}: {note} ({n_points} trials, {n_distinct} distinct weights; the noise is set by the "
    "{replicate_groups} weights run with more than one seed)."
)
TRADEOFF_RESPONSE_FIGURE = (
    "Test MSE and test MRR against the loss weight: fitted curves, {level:.0%} bands of the mean and of a new trial "
    "(the axes follow the trials; bands wider than that run off them)"
)
TRADEOFF_CURVE_FIGURE = "Trade-off traced by the fitted curves, with knee and budget answer"
KNEE_HEADING = "Knee"
KNEE_METHOD = "Method: {method}."
KNEE_FOUND = (
    "{variant}: knee at {weight}, {interval}; fitted test MSE {test_mse}, test MRR {test_mrr} "
    "(distance to the chord {distance})."
)
KNEE_DRAWS = "of the draws have a knee"
INTERVAL = "{level:.0%} interval λ_F {low} to {high} ({share:.0%} {draws})"
INTERVAL_NONE = "no interval: {share:.0%} {draws}"
KNEE_NONE = "{variant}: no knee; {reason}."
BUDGET_HEADING = "Best weight under an MSE budget"
BUDGET_NONE_GIVEN = "No MSE budget was given."
BUDGET_FOUND = (
    "{variant}: with fitted {value} test MSE ≤ {budget}, the highest fitted test MRR is {test_mrr} at {weight}, "
    "{interval} (fitted test MSE {test_mse})."
)
BUDGET_DRAWS = "of the draws meet the budget"
BUDGET_NOT_MET = "{variant}: none; {reason}."

CALIBRATION_HEADING = "Calibration"
CALIBRATION_INTRO = (
    "{n_fresh} fresh trial(s), trained at loss weights between the study's trials with seeds the study never "
    "used (mtlstudy calibrate), checked against the {level:.0%} prediction band of the trade-off fit above, "
    "which never saw them. If the bands are honest, about {level:.0%} fall inside. Each share comes with its "
    "{confidence:.0%} Clopper-Pearson interval, wide when there are few fresh trials."
)
CALIBRATION_TABLE = "Fresh trials inside the {level:.0%} prediction band, per variant and metric (calibration.csv)"
CALIBRATION_FIGURE = (
    "Fresh trials against the prediction bands of the fit, each with its own band as a vertical line: filled "
    "inside it, crossed out in red outside (every fresh trial and its band: calibration_points.csv)"
)

EPOCHS_HEADING = "Epochs: best against final"
EPOCHS_FIGURE = "Test MSE and test MRR per epoch of the {value}-value Pareto trials"
EPOCHS_NONE = "No epoch data."
EPOCHS_TABLE = "Best epoch against final epoch, trials on the front (all trials and metrics: epochs_best_vs_final.csv)"

QUESTIONS_HEADING = "The original questions"
QUESTIONS_INTRO = (
    "Answered from the complete trials (runs without a user bias unless the question is about it): "
    "mean ± standard deviation over seeds, Welch t-test where both sides have at least two runs."
)
QUESTION_HEADING = "Q{number}. {question}"
PUBLISHED_HEADING = "Published values against this study"
PUBLISHED_NONE = "No published value could be compared."
PUBLISHED_TABLE = "Published final value against our mean final value (runs without a user bias)"

NOTES_HEADING = "Notes"
