from sanic import Blueprint

bp = Blueprint("console_review", url_prefix="/console")
