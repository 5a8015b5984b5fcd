"""Parameter checks made before a run, each naming the parameter by its label ('Label (NAME)'):
numbers outside their range or not finite (QGIS's own check says only 'Incorrect parameter value
for NAME'), and filter expressions that do not parse."""

import math

from qgis.core import QgsExpression

NUMBER_TYPE = "number"
# QgsProcessingParameterNumber's bounds when none is set (+-DBL_MAX)
UNBOUNDED = 1e300


def _literal(value):
    """The number given as a literal (int, float or text; NaN for text that is no number), else
    None (a layer property or a model input is left to QGIS)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return float("nan")


def _range_text(low, high):
    if low > -UNBOUNDED and high < UNBOUNDED:
        return f"give a number in the range {low:g} to {high:g}"
    if low > -UNBOUNDED:
        return f"give {low:g} or more"
    if high < UNBOUNDED:
        return f"give {high:g} or less"
    return "give a number"


def number_problem(alg, parameters):
    """The message about the first number parameter of ``alg`` whose given value is not a finite
    number within its minimum and maximum, or None when every given number is fine."""
    for definition in alg.parameterDefinitions():
        if definition.type() != NUMBER_TYPE:
            continue
        name = definition.name()
        value = parameters.get(name)
        if value is None or value == "":
            continue
        number = _literal(value)
        if number is None:
            continue
        label = alg.parameter_label(name)
        low, high = definition.minimum(), definition.maximum()
        if math.isnan(number) and isinstance(value, str) and value.strip().lower() != "nan":
            return f"{label}: {value!r} is not a number; {_range_text(low, high)}"
        if not math.isfinite(number):
            return f"{label}: {value} is not a finite number; {_range_text(low, high)}"
        if number < low or number > high:
            return f"{label}: {value} is out of range; {_range_text(low, high)}"
    return None


def expression_problem(alg, parameters, name):
    """The message when the expression parameter ``name`` does not parse (QGIS would otherwise
    read every feature, or none), or None."""
    text = parameters.get(name)
    if not isinstance(text, str) or not text.strip():
        return None
    expression = QgsExpression(text)
    if expression.hasParserError():
        reason = " ".join(expression.parserErrorString().split())
        return f"{alg.parameter_label(name)}: {text!r} is not a valid expression: {reason}"
    return None
