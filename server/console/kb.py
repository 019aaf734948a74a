from sanic import Blueprint

bp = Blueprint("console_kb", url_prefix="/console")
