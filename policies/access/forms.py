from django import forms


class EmailForm(forms.Form):
    email = forms.EmailField(
        label="Your work email address",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
        error_messages={"required": "Enter your email address.", "invalid": "Enter a valid email address."},
    )


class RestoreForm(forms.Form):
    justification = forms.CharField(
        label="Why do you need this access?",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
    )

    def __init__(self, *args, justification_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["justification"]
        field.required = justification_required
        field.error_messages["required"] = "Tell us briefly why you need this access: it is required for this request."
        if not justification_required:
            field.label = "Why do you need this access? (optional)"


class ExtendForm(forms.Form):
    justification = forms.CharField(
        label="Why do you need this access for longer?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        error_messages={"required": "Tell us briefly why you need this access for longer."},
    )


class GiveBackForm(forms.Form):
    justification = forms.CharField(
        label="Why do you still need this access?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        error_messages={"required": "Tell us briefly why you still need this access."},
    )
