"""Privacy: forgetting a customer (`selflearn forget-user`), in the warehouse, the exports and the runtime."""

from selflearn_assets.lib.privacy.forget import ForgetRefused, ForgetReport, forget_user

__all__ = ["ForgetRefused", "ForgetReport", "forget_user"]
