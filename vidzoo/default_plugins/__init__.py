"""vidzoo's built-in plugins: registered through vidzoo's own entry points, like anyone's."""
