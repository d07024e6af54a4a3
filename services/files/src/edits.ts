import { ToolError } from '@flotilla/runtime';
import { createTwoFilesPatch } from 'diff';

export interface TextEdit {
  oldText: string;
  newText: string;
}

/**
 * Applies exact-text edits in order, each to the result of the previous one. Every oldText must
 * occur exactly once, so an edit can never land somewhere the model did not mean.
 */
export function applyEdits(original: string, edits: readonly TextEdit[]): string {
  let text = original;
  for (const [index, edit] of edits.entries()) {
    const first = text.indexOf(edit.oldText);
    if (first === -1) {
      throw new ToolError(
        'PRECONDITION_FAILED',
        `Edit ${index + 1}: oldText was not found in the file${index > 0 ? ' (after the earlier edits)' : ''}. ` +
          'Read the file again and copy the exact text, including whitespace.',
      );
    }
    if (text.indexOf(edit.oldText, first + 1) !== -1) {
      throw new ToolError(
        'INVALID_ARGUMENT',
        `Edit ${index + 1}: oldText occurs more than once; include enough surrounding lines to make it unique.`,
      );
    }
    text = text.slice(0, first) + edit.newText + text.slice(first + edit.oldText.length);
  }
  return text;
}

export function unifiedDiff(path: string, before: string, after: string): string {
  return createTwoFilesPatch(`a/${path}`, `b/${path}`, before, after, undefined, undefined, { context: 3 });
}
